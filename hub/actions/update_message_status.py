"""A provider reports what became of an outbound message (queued -> sent -> delivered)."""

from __future__ import annotations

from sqlmodel import select

from hub.context import Hub
from hub.events import MessageStatusChanged
from hub.models import Message

# Providers may report out of order; a status never moves back to an earlier one.
RANK = {
    "queued": 0,
    "accepted": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
}


async def update_message_status(
    hub: Hub, channel: str, provider_ref: str, status: str, error: str = ""
) -> bool:
    """Returns False when no outbound message has that provider id (nothing to update)."""
    async with hub.transaction() as tx:
        message = (
            await tx.session.exec(
                select(Message).where(
                    Message.channel == channel,
                    Message.provider_ref == provider_ref,
                    Message.direction == "out",
                )
            )
        ).first()
        if message is None:
            return False
        if RANK.get(status, 0) < RANK.get(message.status, 0):
            return True
        message.status = status
        message.error = error[:500]
        tx.session.add(message)
        tx.emit(
            MessageStatusChanged(
                message_id=message.id,
                interaction_id=message.interaction_id,
                status=status,
                error=message.error,
            )
        )
    return True
