"""Bridge a queued Twilio call to the agent who accepted it (REST: update the call with <Dial>)."""

from __future__ import annotations

import logging

from channels.base import ChannelError, SendError
from channels.twilio_client import connect_call, hangup_call
from channels.twilio_voice import dial_agent_twiml
from hub.context import Hub
from hub.events import InteractionUpdated
from hub.models import Agent, Interaction, OutboxEntry

log = logging.getLogger(__name__)


async def connect_agent(hub: Hub, entry: OutboxEntry) -> None:
    """Raises SendError (temporary or permanent) for the relay's retry logic."""
    async with hub.store.session() as session:
        it = await session.get(Interaction, str(entry.payload.get("interaction_id", "")))
        agent = await session.get(Agent, str(entry.payload.get("agent_id", "")))
    if it is None or agent is None or it.meta.get("ended_at"):
        return  # the caller hung up meanwhile: nothing to connect
    client = hub.resources.get("twilio")
    if client is None:
        raise SendError("Twilio is not configured", permanent=True)
    if entry.payload.get("action") == "hangup":
        await hangup_call(client, it.provider_ref or "")
        return
    try:
        twiml = dial_agent_twiml(
            client_identity=agent.client_identity,
            phone=agent.phone,
            caller_id=hub.settings.voice.caller_id or None,
        )
    except ChannelError as exc:
        await _note_failure(hub, it.id, str(exc))
        raise SendError(str(exc), permanent=True) from None
    await connect_call(client, it.provider_ref or "", twiml)


async def _note_failure(hub: Hub, interaction_id: str, error: str) -> None:
    async with hub.transaction() as tx:
        it = await tx.session.get(Interaction, interaction_id)
        if it is not None:
            it.meta = {**it.meta, "connect_error": error[:300]}
            tx.session.add(it)
            tx.emit(
                InteractionUpdated(
                    interaction_id=it.id, state=it.state, agent_id=it.assigned_agent_id
                )
            )
