"""An agent accepts or rejects the offer in front of them (compare-and-set on the interaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from hub.actions.route_interactions import requeue
from hub.context import Hub
from hub.errors import Conflict, NotFound
from hub.events import InteractionAssigned
from hub.models import Agent, Interaction, Offer, OutboxEntry


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


async def accept_offer(hub: Hub, agent_id: str, interaction_id: str) -> str:
    """Returns the interaction's id. Statements, not ORM rows: an accept is one of the two
    transactions every contact costs an agent (docs/performance.md)."""
    now = hub.now()
    async with hub.transaction() as tx:
        # One UPDATE decides: a concurrent timeout or a second accept finds 0 rows.
        row = (
            await tx.session.exec(
                sa.update(Interaction)
                .where(
                    col(Interaction.id) == interaction_id,
                    col(Interaction.state) == "offered",
                    col(Interaction.offered_agent_id) == agent_id,
                    col(Interaction.offer_expires_at) > now,
                )
                .values(state="assigned", assigned_agent_id=agent_id, assigned_at=now)
                .returning(
                    col(Interaction.offer_id),
                    col(Interaction.channel),
                    col(Interaction.direction),
                    col(Interaction.meta),
                )
            )
        ).first()
        if row is None:
            raise Conflict("this offer is no longer open", interaction_id=interaction_id)
        offer_id, channel, direction, meta = row
        if offer_id:
            await tx.session.exec(
                sa.update(Offer)
                .where(col(Offer.id) == offer_id)
                .values(outcome="accepted", decided_at=now)
            )
        await tx.session.exec(
            sa.update(Agent).where(col(Agent.id) == agent_id).values(missed_offers=0)
        )
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
        if not await requeue(tx, interaction, agent_id, outcome="rejected", now=now):
            raise Conflict("this offer is no longer open", interaction_id=interaction_id)
        hub.metrics.offers.labels("rejected").inc()
