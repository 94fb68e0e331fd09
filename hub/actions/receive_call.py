"""A call arrives from Twilio: store it as a voice interaction, enqueue it or take a message."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from channels.base import InboundContact
from hub.actions.receive_contact import receive_contact
from hub.context import Hub
from hub.models import Agent, Interaction, Queue
from hub.routing_snapshot import queue_view
from routing.hours import is_open


@dataclass(frozen=True, slots=True)
class CallAnswer:
    interaction_id: str
    queue_id: str
    voicemail: bool
    duplicate: bool


async def someone_can_answer(hub: Hub, queue_id: str) -> bool:
    """Open and staffed: at least one available agent serves the queue."""
    async with hub.store.session() as session:
        queue = await session.get(Queue, queue_id)
        if queue is None or not is_open(queue_view(queue), hub.now().timestamp()):
            return False
        # Only the column: one chat message used to build an ORM object per available agent.
        served = (await session.exec(select(Agent.queues).where(Agent.status == "available"))).all()
    return any(queue_id in queues for queues in served)


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
