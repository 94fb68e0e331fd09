"""Generic CTI call events from a PBX: ring (screen-pop), answer (bind the agent), hang up (call
log). Idempotent on (callId, event); events out of order are reconciled, never an error 500."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from channels.cti import CtiEvent, cti_reject, to_contact
from hub.actions.receive_contact import receive_contact
from hub.context import Hub, Tx
from hub.customers import normalize_identity
from hub.events import CallRinging, InteractionAssigned, InteractionUpdated
from hub.models import Agent, Interaction


def blocked(hub: Hub, event: CtiEvent) -> bool:
    region = hub.settings.default_region
    caller = normalize_identity("phone", event.customer_number, region)
    numbers = {normalize_identity("phone", n, region) for n in hub.settings.cti.blocked_numbers}
    return event.direction == "in" and caller is not None and caller in numbers


async def handle_cti(hub: Hub, event: CtiEvent) -> dict[str, Any]:
    if event.event == "newCall" and blocked(hub, event):
        hub.metrics.webhooks.labels("cti", "blocked").inc()
        return cti_reject("busy")
    ref = f"cti:{event.call_id}"
    received = await receive_contact(hub, to_contact(event), state="ringing")
    async with hub.transaction() as tx:
        it = (
            await tx.session.exec(
                select(Interaction).where(
                    Interaction.channel == "voice", Interaction.provider_ref == ref
                )
            )
        ).first()
        assert it is not None
        seen = list(it.meta.get("cti_events", []))
        if event.event in seen:
            return {}  # a replay: already applied
        it.meta = {**it.meta, "cti_events": [*seen, event.event]}
        if event.event == "newCall" or received.new_interaction:
            it.meta = {**it.meta, "started_at": hub.now().isoformat()}
            agents = await _agents_to_pop(tx, event)
            # Remembered so the pop is taken down on every console once the call is answered
            # or over, and so a reconnecting console still shows it while it rings.
            it.meta = {**it.meta, "popped": [a.id for a in agents]}
            tx.emit(CallRinging(interaction_id=it.id, agent_ids=tuple(a.id for a in agents)))
        if event.event == "answer":
            await _answer(hub, tx, it, event)
        elif event.event == "hangup":
            _hangup(hub, tx, it, event)
        tx.session.add(it)
    return {}


async def _agents_to_pop(tx: Tx, event: CtiEvent) -> list[Agent]:
    agents = (await tx.session.exec(select(Agent))).all()
    names = {u.lower() for u in event.users}
    if names:
        return [a for a in agents if a.username in names or a.display_name.lower() in names]
    if event.queue:
        return [a for a in agents if event.queue in a.queues and a.status == "available"]
    return []


async def _answer(hub: Hub, tx: Tx, it: Interaction, event: CtiEvent) -> None:
    agents = (await tx.session.exec(select(Agent))).all()
    region = hub.settings.default_region
    number = (
        normalize_identity("phone", event.answering_number, region)
        if (event.answering_number)
        else None
    )
    names = {u.lower() for u in event.users}
    agent = next(
        (
            a
            for a in agents
            if number and a.phone and normalize_identity("phone", a.phone, region) == number
        ),
        None,
    ) or next((a for a in agents if a.username in names), None)
    now = hub.now()
    it.state, it.assigned_at = "assigned", now
    it.assigned_agent_id = agent.id if agent else None
    it.meta = {
        **it.meta,
        "answered_at": now.isoformat(),
        "wait_s": round((now - it.enqueued_at).total_seconds(), 1),
        "answering_number": event.answering_number,
    }
    if agent is not None:
        tx.emit(InteractionAssigned(interaction_id=it.id, agent_id=agent.id))


def _hangup(hub: Hub, tx: Tx, it: Interaction, event: CtiEvent) -> None:
    now = hub.now()
    meta = {**it.meta, "ended_at": now.isoformat(), "cause": event.cause}
    if it.state == "assigned":
        answered = it.assigned_at or now
        meta["talk_s"] = round((now - answered).total_seconds(), 1)
        it.state = "closed"
    else:
        meta["missed"] = True
        meta["wait_s"] = round((now - it.enqueued_at).total_seconds(), 1)
        it.state = "abandoned"
    it.meta, it.closed_at = meta, now
    tx.emit(InteractionUpdated(interaction_id=it.id, state=it.state, agent_id=it.assigned_agent_id))
