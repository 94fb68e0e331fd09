"""A website visitor as a test sees it: socketio.AsyncClient on /chat with an inbox."""

from __future__ import annotations

from typing import Any

from tests.support.socket_client import RecordingClient

VISITOR_EVENTS = ("session", "history", "message", "agent", "typing", "closed", "read")


class VisitorClient(RecordingClient):
    """A website visitor; remembers the session token the hub issues."""

    def __init__(self) -> None:
        super().__init__("/chat", VISITOR_EVENTS)
        self.token: str | None = None
        self.history: Any = None

    def received(self, name: str, data: Any) -> None:
        if name == "session":
            self.token = data["token"]
        elif name == "history":
            self.history = data

    async def connect(self, base_url: str, **auth: Any) -> None:
        await self.open(base_url, auth)
