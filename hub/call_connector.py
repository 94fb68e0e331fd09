"""Bridge a queued Twilio call to the agent who accepted it (REST: update the call with <Dial>)."""

from __future__ import annotations

import logging
from typing import Any

from channels.base import ChannelError, SendError
from channels.twilio_client import connect_call, hangup_call, place_call
from channels.twilio_voice import agent_endpoint, dial_agent_twiml, outbound_call_twiml
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
    if entry.payload.get("action") == "dial":
        await _dial(hub, client, it, agent)
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


async def _dial(hub: Hub, client: Any, it: Interaction, agent: Agent) -> None:
    """Place an outbound call at most once: a call placed twice rings a customer twice.

    The interaction is marked `dialing` (committed) before the REST call. A relay that finds the
    mark after a crash cannot know whether Twilio created the call, so it does not place it again:
    the agent sees the call failed and can call again. An error answer from Twilio means no call
    was created, so the mark is cleared and the relay retries temporary errors with backoff.
    """
    if it.provider_ref:
        return  # placed already
    if it.meta.get("dialing"):
        await _note_failure(hub, it.id, "the hub restarted while placing this call: call again")
        raise SendError("interrupted while placing the call", permanent=True)
    await _set_meta(hub, it.id, dialing=True)
    settings = hub.settings
    try:
        to = agent_endpoint(client_identity=agent.client_identity, phone=agent.phone)
        twiml = outbound_call_twiml(
            customer_number=it.customer_address, caller_id=settings.twilio.from_number
        )
    except ChannelError as exc:
        await _note_failure(hub, it.id, str(exc))
        raise SendError(str(exc), permanent=True) from None
    try:
        sid = await place_call(
            client,
            to=to,
            from_=settings.twilio.from_number,
            twiml=twiml,
            status_callback=settings.public_url("/webhooks/twilio/voice/status"),
        )
    except SendError as exc:
        if exc.code == "no_answer":
            # No answer at all: Twilio may have created the call. Do not risk a second one.
            await _note_failure(hub, it.id, str(exc))
            raise SendError(str(exc), permanent=True) from None
        await _set_meta(hub, it.id, dialing=False)
        if exc.permanent:
            await _note_failure(hub, it.id, str(exc))
        raise
    async with hub.transaction() as tx:
        row = await tx.session.get(Interaction, it.id)
        if row is not None:
            row.provider_ref = sid
            row.meta = {**row.meta, "dialing": False, "call_sid": sid}
            tx.session.add(row)
            tx.emit(
                InteractionUpdated(
                    interaction_id=row.id, state=row.state, agent_id=row.assigned_agent_id
                )
            )


async def _set_meta(hub: Hub, interaction_id: str, **values: Any) -> None:
    async with hub.store.transaction() as session:
        row = await session.get(Interaction, interaction_id)
        if row is not None:
            row.meta = {**row.meta, **values}
            session.add(row)


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
