"""A voicemail recording arrived: a voice message on the call's interaction, routed like work."""

from __future__ import annotations

from sqlmodel import select

from hub.context import Hub
from hub.events import MessageCreated
from hub.models import Interaction, Message


async def store_recording(hub: Hub, call_sid: str, url: str, duration_s: int | None) -> bool:
    """Idempotent on the recording URL; False when the call is unknown."""
    async with hub.transaction() as tx:
        it = (
            await tx.session.exec(
                select(Interaction).where(
                    Interaction.channel == "voice", Interaction.provider_ref == call_sid
                )
            )
        ).first()
        if it is None:
            return False
        ref = f"rec:{url[-200:]}"
        exists = (
            await tx.session.exec(
                select(Message).where(Message.channel == "voice", Message.provider_ref == ref)
            )
        ).first()
        if exists is not None:
            return True
        message = Message(
            interaction_id=it.id,
            channel="voice",
            direction="in",
            provider_ref=ref,
            sender=it.customer_address,
            body=f"Voicemail ({duration_s or 0} s): {url}",
            created_at=hub.now(),
            meta={"recording_url": url, "duration_s": duration_s},
        )
        tx.session.add(message)
        tx.emit(MessageCreated(message_id=message.id, interaction_id=it.id, direction="in"))
    return True
