"""A logged-in console as a test sees it: a real socketio.AsyncClient on /agent with an inbox."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

AGENT_EVENTS = (
    "state",
    "status",
    "offer",
    "call.ringing",
    "offer.revoked",
    "interaction.assigned",
    "interaction.updated",
    "message.created",
    "message.status",
    "customer.updated",
)


class AgentClient:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in AGENT_EVENTS:
            self.sio.on(name, self._recorder(name), namespace="/agent")

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            self.inbox.put_nowait((name, data))

        return record

    async def connect(self, base_url: str, token: str | None) -> None:
        await self.sio.connect(
            base_url,
            namespaces=["/agent"],
            auth={"token": token} if token else None,
            transports=["websocket"],
            wait_timeout=5,
        )

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        result = await self.sio.call(event, data, namespace="/agent", timeout=10)
        assert isinstance(result, dict)
        return result

    async def next(self, name: str, timeout: float = 10.0) -> Any:
        """The next event called `name` (others before it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                got, data = await self.inbox.get()
                if got == name:
                    return data

    async def close(self) -> None:
        await self.sio.disconnect()
