"""A website visitor as a test sees it: socketio.AsyncClient on /chat with an inbox."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

VISITOR_EVENTS = ("session", "history", "message", "agent", "typing", "closed")


class VisitorClient:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.token: str | None = None
        for name in VISITOR_EVENTS:
            self.sio.on(name, self._recorder(name), namespace="/chat")

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            if name == "session":
                self.token = data["token"]
            self.inbox.put_nowait((name, data))

        return record

    async def connect(self, base_url: str, **auth: Any) -> None:
        await self.sio.connect(
            base_url, namespaces=["/chat"], auth=auth, transports=["websocket"], wait_timeout=5
        )

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        result = await self.sio.call(event, data, namespace="/chat", timeout=10)
        assert isinstance(result, dict)
        return result

    async def next(self, name: str, timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                got, data = await self.inbox.get()
                if got == name:
                    return data

    async def close(self) -> None:
        await self.sio.disconnect()
