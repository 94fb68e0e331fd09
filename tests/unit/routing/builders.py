"""Small builders for routing snapshots in the routing tests (imported as a sibling module)."""

from __future__ import annotations

from typing import Any

from routing.engine import decide
from routing.types import AgentView, InteractionView, QueueView, RoutingConfig, RoutingSnapshot

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC, a Friday


def it(
    iid: str, *, waited: float = 0.0, queue: str = "support", channel: str = "sms", **kw: Any
) -> InteractionView:
    return InteractionView(id=iid, queue_id=queue, channel=channel, enqueued_at=NOW - waited, **kw)


def ag(
    aid: str,
    *,
    idle_for: float = 0.0,
    queues: tuple[str, ...] = ("support",),
    capacity: dict[str, int] | None = None,
    available: bool = True,
    **kw: Any,
) -> AgentView:
    return AgentView(
        id=aid,
        available=available,
        queues=frozenset(queues),
        capacity=capacity or {"voice": 1, "sms": 1, "chat": 3, "email": 5},
        idle_since=NOW - idle_for,
        **kw,
    )


def snap(
    interactions: list[InteractionView],
    agents: list[AgentView],
    queues: list[QueueView] | None = None,
    config: RoutingConfig | None = None,
) -> RoutingSnapshot:
    qs = queues or [QueueView(id="support")]
    return RoutingSnapshot(
        tuple(interactions), tuple(agents), {q.id: q for q in qs}, config or RoutingConfig()
    )


def offers(s: RoutingSnapshot, now: float = NOW) -> dict[str, str]:
    return {d.interaction_id: d.agent_id for d in decide(s, now)}


def pairs(s: RoutingSnapshot, now: float = NOW) -> list[tuple[str, str]]:
    return [(d.interaction_id, d.agent_id) for d in decide(s, now)]
