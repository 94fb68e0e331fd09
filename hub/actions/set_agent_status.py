"""An agent (or a supervisor for them) goes available, away (with a reason) or offline."""

from __future__ import annotations

from hub.actions.take_back_offers import take_back
from hub.context import Hub
from hub.errors import Invalid, NotFound
from hub.events import AgentStatusChanged
from hub.models import Agent
from hub.tables import INTERACTIONS

STATUSES = ("available", "away", "offline")


def check_status(status: str, reason: str) -> tuple[str, str]:
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    return status, (reason or "").strip()[:100]


async def set_agent_status(hub: Hub, agent_id: str, status: str, reason: str = "") -> Agent:
    status, reason = check_status(status, reason)
    now = hub.now()
    async with hub.transaction() as tx:
        agent = await tx.session.get(Agent, agent_id)
        if agent is None:
            raise NotFound("no such agent")
        if agent.status == status and agent.status_reason == reason:
            return agent
        if status == "available" and agent.status != "available":
            agent.missed_offers = 0
            agent.idle_since = now
        agent.status, agent.status_reason, agent.status_since = status, reason, now
        tx.session.add(agent)
        if status != "available":
            # Leaving: offers in front of this agent go back to the queue at once.
            where = [INTERACTIONS.c.offered_agent_id == agent_id]
            await take_back(hub, tx, where, outcome="revoked", now=now)
        tx.emit(AgentStatusChanged(agent_id=agent_id, status=status, reason=reason))
    return agent
