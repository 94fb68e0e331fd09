"""A supervisor moves work: to a named agent (assigned at once, within that agent's capacity) or
back to a queue (keeping its enqueue time). Audit-logged; the previous agent's console drops it."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.actions.handle_offer import needs_connect
from hub.context import Hub
from hub.errors import Conflict, Invalid, NotFound
from hub.events import InteractionAssigned, InteractionQueued, InteractionUpdated, OfferRevoked
from hub.models import Agent, AuditLog, Interaction, Offer, OutboxEntry, Queue

MOVABLE = ("queued", "offered", "assigned")


async def reassign_interaction(
    hub: Hub,
    supervisor: Agent,
    interaction_id: str,
    *,
    to_agent_id: str | None = None,
    queue_id: str | None = None,
) -> Interaction:
    if bool(to_agent_id) == bool(queue_id):
        raise Invalid("name either an agent or a queue")
    now = hub.now()
    async with hub.transaction() as tx:
        it = await tx.session.get(Interaction, interaction_id)
        if it is None:
            raise NotFound("no such interaction")
        if it.state not in MOVABLE:
            raise Conflict(f"a {it.state} interaction cannot be moved", interaction_id=it.id)
        before_state, before_agent = it.state, it.assigned_agent_id or it.offered_agent_id
        target: Agent | None = None
        if to_agent_id:
            target = await tx.session.get(Agent, to_agent_id)
            if target is None:
                raise Invalid("no such agent")
            if target.id == before_agent and before_state == "assigned":
                raise Invalid("the interaction is already with this agent")
            if target.status == "offline":
                raise Conflict("that agent is offline", interaction_id=it.id)
            await _check_capacity(tx.session, target, it)
        elif await tx.session.get(Queue, queue_id) is None:
            raise Invalid(f"no queue {queue_id!r}")

        values: dict[str, object] = {"offered_agent_id": None, "offer_id": None}
        values["offer_expires_at"] = None
        if target is not None:
            values.update(state="assigned", assigned_agent_id=target.id, assigned_at=now)
        else:
            excluded = list(it.excluded_agent_ids)
            if before_agent and before_agent not in excluded:
                excluded.append(before_agent)
            values.update(
                state="queued",
                queue_id=queue_id,
                assigned_agent_id=None,
                assigned_at=None,
                excluded_agent_ids=excluded,
                excluded_until=now + timedelta(seconds=hub.settings.routing.exclusion_s),
            )
        # Compare-and-set on what we read: a concurrent accept, timeout or wrap-up wins.
        result = await tx.session.exec(
            sa.update(Interaction)
            .where(
                col(Interaction.id) == it.id,
                col(Interaction.state) == before_state,
                sa.or_(
                    col(Interaction.offer_id) == it.offer_id,
                    col(Interaction.offer_id).is_(None),
                ),
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the interaction changed meanwhile; try again", interaction_id=it.id)
        offer_id = it.offer_id
        await tx.session.refresh(it)
        if before_state == "offered" and offer_id:
            offer = await tx.session.get(Offer, offer_id)
            if offer is not None and offer.outcome == "pending":
                offer.outcome, offer.decided_at = "revoked", now
                tx.session.add(offer)
            tx.emit(
                OfferRevoked(
                    offer_id=offer_id,
                    interaction_id=it.id,
                    agent_id=before_agent or "",
                    reason="revoked",
                )
            )
        elif before_state == "assigned" and before_agent:
            tx.emit(InteractionUpdated(interaction_id=it.id, state=it.state, agent_id=before_agent))
        if target is not None:
            if needs_connect(it):
                tx.session.add(
                    OutboxEntry(
                        kind="connect",
                        payload={"interaction_id": it.id, "agent_id": target.id},
                        next_attempt_at=now,
                    )
                )
            tx.emit(InteractionAssigned(interaction_id=it.id, agent_id=target.id))
        else:
            tx.emit(InteractionQueued(interaction_id=it.id, queue_id=it.queue_id, reason="moved"))
        tx.session.add(
            AuditLog(
                actor=supervisor.username,
                action="interaction.reassign",
                target=it.id,
                detail={
                    "from_state": before_state,
                    "from_agent": before_agent,
                    "to_agent": target.id if target else None,
                    "to_queue": queue_id,
                },
            )
        )
    hub.kick("sender")
    return it


async def _check_capacity(session: AsyncSession, agent: Agent, it: Interaction) -> None:
    held = (
        await session.exec(
            select(sa.func.count()).where(
                Interaction.assigned_agent_id == agent.id,
                Interaction.state == "assigned",
                Interaction.channel == it.channel,
            )
        )
    ).one()
    if int(held) >= int(agent.capacity.get(it.channel, 0)):
        raise Conflict(
            f"{agent.display_name or agent.username} has no free {it.channel} capacity",
            interaction_id=it.id,
        )
