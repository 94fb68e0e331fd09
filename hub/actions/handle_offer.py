"""An agent accepts or rejects the offer in front of them (compare-and-set on the interaction)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col

from hub.actions.route_interactions import requeue
from hub.context import Hub
from hub.errors import Conflict, NotFound
from hub.events import InteractionAssigned
from hub.models import Agent, Interaction, Offer, OutboxEntry


def needs_connect(it: Interaction) -> bool:
    """A live Twilio call waiting in <Enqueue> (not a voicemail, call-back or CTI call)."""
    return (
        it.channel == "voice"
        and it.meta.get("source") == "twilio"
        and not it.meta.get("voicemail")
        and not it.meta.get("ended_at")
        and it.direction == "in"
    )


async def accept_offer(hub: Hub, agent_id: str, interaction_id: str) -> Interaction:
    now = hub.now()
    async with hub.transaction() as tx:
        # One UPDATE decides: a concurrent timeout or a second accept finds 0 rows.
        result = await tx.session.exec(
            sa.update(Interaction)
            .where(
                col(Interaction.id) == interaction_id,
                col(Interaction.state) == "offered",
                col(Interaction.offered_agent_id) == agent_id,
                col(Interaction.offer_expires_at) > now,
            )
            .values(state="assigned", assigned_agent_id=agent_id, assigned_at=now)
        )
        if result.rowcount != 1:
            raise Conflict("this offer is no longer open", interaction_id=interaction_id)
        interaction = await tx.session.get(Interaction, interaction_id, populate_existing=True)
        assert interaction is not None
        if interaction.offer_id:
            offer = await tx.session.get(Offer, interaction.offer_id)
            if offer is not None:
                offer.outcome, offer.decided_at = "accepted", now
                tx.session.add(offer)
        agent = await tx.session.get(Agent, agent_id)
        if agent is not None:
            agent.missed_offers = 0
            tx.session.add(agent)
        hub.metrics.offers.labels("accepted").inc()
        if needs_connect(interaction):
            # Bridge the waiting Twilio call to the agent; the relay retries on errors.
            tx.session.add(
                OutboxEntry(
                    kind="connect",
                    payload={"interaction_id": interaction_id, "agent_id": agent_id},
                    next_attempt_at=now,
                )
            )
        tx.emit(InteractionAssigned(interaction_id=interaction_id, agent_id=agent_id))
    if needs_connect(interaction):
        hub.kick("sender")
    return interaction


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
