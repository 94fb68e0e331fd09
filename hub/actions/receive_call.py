"""A call arrives from Twilio: store it as a voice interaction, enqueue it or take a message."""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import InboundContact
from hub.actions.receive_contact import receive_contact
from hub.context import Hub
from hub.models import Interaction
from hub.staffing import someone_can_answer


@dataclass(frozen=True, slots=True)
class CallAnswer:
    interaction_id: str
    queue_id: str
    voicemail: bool
    duplicate: bool


async def receive_call(hub: Hub, contact: InboundContact) -> CallAnswer:
    received = await receive_contact(hub, contact)
    async with hub.store.session() as session:
        interaction = await session.get(Interaction, received.interaction_id)
    assert interaction is not None
    if received.duplicate:  # Twilio retried: answer the same way again
        return CallAnswer(
            interaction.id, interaction.queue_id, bool(interaction.meta.get("voicemail")), True
        )
    voicemail = not await someone_can_answer(hub, interaction.queue_id)
    if voicemail:
        async with hub.store.transaction() as session:
            row = await session.get(Interaction, interaction.id)
            assert row is not None
            row.meta = {**row.meta, "voicemail": True}
            row.subject = row.subject or "Voicemail"
            session.add(row)
    return CallAnswer(interaction.id, interaction.queue_id, voicemail, False)
