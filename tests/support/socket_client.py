"""A real socketio.AsyncClient on one namespace that records every named event in an inbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import socketio


class RecordingClient:
    def __init__(self, namespace: str, events: Iterable[str]) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in events:
            self.sio.on(name, self._recorder(name), namespace=namespace)

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            self.received(name, data)
            self.inbox.put_nowait((name, data))

        return record

    def received(self, name: str, data: Any) -> None:
        """Hook for subclasses that keep state from events."""

    async def open(self, base_url: str, auth: Any) -> None:
        await self.sio.connect(
            base_url,
            namespaces=[self.namespace],
            auth=auth,
            transports=["websocket"],
            wait_timeout=5,
        )

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        result = await self.sio.call(event, data, namespace=self.namespace, timeout=10)
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
