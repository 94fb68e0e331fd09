"""A call ended: talk time on an answered call; a caller who hung up while waiting is abandoned
and a call-back task takes their place in the queue."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from hub.actions.take_back_offers import requeue
from hub.context import Hub
from hub.events import InteractionQueued, InteractionReceived, InteractionUpdated
from hub.models import Agent, Interaction


async def find_call(hub: Hub, provider_ref: str) -> Interaction | None:
    async with hub.store.session() as session:
        return (
            await session.exec(
                select(Interaction).where(
                    Interaction.channel == "voice", Interaction.provider_ref == provider_ref
                )
            )
        ).first()


async def end_call(
    hub: Hub, provider_ref: str, status: str, duration_s: int | None, cause: str = ""
) -> Interaction | None:
    """Idempotent: a call already ended is left alone."""
    now = hub.now()
    async with hub.transaction() as tx:
        it = (
            await tx.session.exec(
                select(Interaction).where(
                    Interaction.channel == "voice", Interaction.provider_ref == provider_ref
                )
            )
        ).first()
        if it is None or it.meta.get("ended_at"):
            return it
        meta = {**it.meta, "ended_at": now.isoformat(), "end_status": status, "cause": cause}
        if it.state == "offered":
            await requeue(hub, tx, it, outcome="revoked", now=now)
        if it.meta.get("voicemail") and it.state in ("queued", "offered"):
            it.meta = meta  # a voicemail is work: it stays in the queue
            tx.session.add(it)
            return it
        if it.state in ("queued", "offered", "ringing"):
            it.state = "abandoned"
            meta["wait_s"] = round((now - it.enqueued_at).total_seconds(), 1)
            it.meta, it.closed_at = meta, now
            tx.session.add(it)
            callback = Interaction(
                customer_id=it.customer_id,
                channel="voice",
                direction="out",
                queue_id=it.queue_id,
                subject="Call back: the caller hung up while waiting",
                customer_address=it.customer_address,
                hub_address=it.hub_address,
                enqueued_at=it.enqueued_at,
                created_at=now,
                meta={"callback_of": it.id, "source": it.meta.get("source", "")},
            )
            tx.session.add(callback)
            tx.emit(InteractionUpdated(interaction_id=it.id, state="abandoned"))
            tx.emit(
                InteractionReceived(
                    interaction_id=callback.id,
                    customer_id=it.customer_id,
                    channel="voice",
                    queue_id=it.queue_id,
                )
            )
            tx.emit(
                InteractionQueued(
                    interaction_id=callback.id, queue_id=it.queue_id, reason="callback"
                )
            )
            return it
        if it.state == "assigned":
            answered = it.assigned_at or now
            meta["talk_s"] = (
                duration_s if duration_s is not None else round((now - answered).total_seconds())
            )
            it.state, it.meta, it.closed_at = "closed", meta, now
            tx.session.add(it)
            agent = await tx.session.get(Agent, it.assigned_agent_id or "")
            if agent is not None:
                agent.idle_since = now
                agent.wrapup_until = now + timedelta(seconds=hub.settings.routing.wrapup_s)
                tx.session.add(agent)
            tx.emit(
                InteractionUpdated(
                    interaction_id=it.id, state="closed", agent_id=it.assigned_agent_id
                )
            )
        return it
