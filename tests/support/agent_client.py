"""A logged-in console as a test sees it: a real socketio.AsyncClient on /agent with an inbox."""

from __future__ import annotations

from tests.support.socket_client import RecordingClient

AGENT_EVENTS = (
    "state",
    "status",
    "offer",
    "call.ringing",
    "call.ringing.ended",
    "offer.revoked",
    "interaction.assigned",
    "interaction.updated",
    "message.created",
    "message.status",
    "customer.updated",
)


class AgentClient(RecordingClient):
    """A logged-in console."""

    def __init__(self) -> None:
        super().__init__("/agent", AGENT_EVENTS)

    async def connect(self, base_url: str, token: str | None) -> None:
        await self.open(base_url, {"token": token} if token else None)
