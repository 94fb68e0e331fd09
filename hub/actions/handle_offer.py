"""An agent accepts or rejects the offer in front of them (compare-and-set on the interaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.actions.take_back_offers import requeue
from hub.context import Hub
from hub.errors import Conflict, NotFound
from hub.events import InteractionAssigned
from hub.models import Interaction, OutboxEntry
from hub.tables import AGENTS, INTERACTIONS, OFFERS


def needs_connect(it: Interaction) -> bool:
    """A live Twilio call waiting in <Enqueue> (not a voicemail, call-back or CTI call)."""
    return live_twilio_call(it.channel, it.direction, it.meta)


def live_twilio_call(channel: str, direction: str, meta: dict[str, Any]) -> bool:
    return (
        channel == "voice"
        and meta.get("source") == "twilio"
        and not meta.get("voicemail")
        and not meta.get("ended_at")
        and direction == "in"
    )


_I = INTERACTIONS.c
ACCEPT = (
    sa.update(INTERACTIONS)
    .where(
        _I.id == sa.bindparam("interaction_id"),
        _I.state == "offered",
        _I.offered_agent_id == sa.bindparam("agent_id"),
        _I.offer_expires_at > sa.bindparam("now"),
    )
    .values(
        state="assigned",
        assigned_agent_id=sa.bindparam("agent_id"),
        assigned_at=sa.bindparam("now"),
    )
    .returning(_I.offer_id, _I.channel, _I.direction, _I.meta)
)
OFFER_ACCEPTED = (
    sa.update(OFFERS)
    .where(OFFERS.c.id == sa.bindparam("offer_id"))
    .values(outcome="accepted", decided_at=sa.bindparam("now"))
)
MISSED_RESET = (
    sa.update(AGENTS).where(AGENTS.c.id == sa.bindparam("agent_id")).values(missed_offers=0)
)


async def accept_offer(hub: Hub, agent_id: str, interaction_id: str) -> str:
    """Returns the interaction's id. Statements, not ORM rows: an accept is one of the two
    transactions every contact costs an agent (docs/performance.md)."""
    now = hub.now()
    async with hub.transaction() as tx:
        # One UPDATE decides: a concurrent timeout or a second accept finds 0 rows.
        params = {"interaction_id": interaction_id, "agent_id": agent_id, "now": now}
        row = (await tx.session.execute(ACCEPT, params)).first()
        if row is None:
            raise Conflict("this offer is no longer open", interaction_id=interaction_id)
        offer_id, channel, direction, meta = row
        if offer_id:
            await tx.session.execute(OFFER_ACCEPTED, {"offer_id": offer_id, "now": now})
        await tx.session.execute(MISSED_RESET, params)
        hub.metrics.offers.labels("accepted").inc()
        connect = live_twilio_call(channel, direction, meta or {})
        if connect:
            # Bridge the waiting Twilio call to the agent; the relay retries on errors.
            tx.session.add(
                OutboxEntry(
                    kind="connect",
                    payload={"interaction_id": interaction_id, "agent_id": agent_id},
                    next_attempt_at=now,
                )
            )
        tx.emit(InteractionAssigned(interaction_id=interaction_id, agent_id=agent_id))
    if connect:
        hub.kick("sender")
    return interaction_id


async def reject_offer(hub: Hub, agent_id: str, interaction_id: str) -> None:
    now = hub.now()
    async with hub.transaction() as tx:
        interaction = await tx.session.get(Interaction, interaction_id)
        if interaction is None:
            raise NotFound("no such interaction")
        if interaction.state != "offered" or interaction.offered_agent_id != agent_id:
            raise Conflict("this offer is no longer open", interaction_id=interaction_id)
        if not await requeue(hub, tx, interaction, outcome="rejected", now=now):
            raise Conflict("this offer is no longer open", interaction_id=interaction_id)
        hub.metrics.offers.labels("rejected").inc()
