"""The engine's first-cut promises: tier first, aging, longest idle, capacity, exclusions."""

from __future__ import annotations

from routing.engine import decide
from routing.priority import priority
from routing.types import AgentView, InteractionView, QueueView, RoutingSnapshot, Weights

NOW = 1_000_000.0
QUEUES = {"support": QueueView(id="support")}


def it(iid: str, tier: str = "standard", waited: float = 0.0, **kw: object) -> InteractionView:
    return InteractionView(
        id=iid, queue_id="support", channel="sms", enqueued_at=NOW - waited, tier=tier, **kw
    )  # type: ignore[arg-type]


def agent(aid: str, idle_for: float = 0.0, **kw: object) -> AgentView:
    defaults: dict[str, object] = {
        "available": True,
        "queues": frozenset({"support"}),
        "capacity": {"sms": 1},
        "idle_since": NOW - idle_for,
    }
    defaults.update(kw)
    return AgentView(id=aid, **defaults)  # type: ignore[arg-type]


def snap(interactions: list[InteractionView], agents: list[AgentView]) -> RoutingSnapshot:
    return RoutingSnapshot(interactions=tuple(interactions), agents=tuple(agents), queues=QUEUES)


def pairs(s: RoutingSnapshot) -> list[tuple[str, str]]:
    return [(d.interaction_id, d.agent_id) for d in decide(s, NOW)]


def test_higher_tier_first() -> None:
    s = snap([it("std", waited=20), it("vip", tier="vip")], [agent("a")])
    assert pairs(s) == [("vip", "a")]


def test_waiting_eventually_beats_tier() -> None:
    s = snap([it("old", waited=600), it("vip", tier="vip")], [agent("a")])
    assert pairs(s) == [("old", "a")]


def test_longest_idle_agent_first() -> None:
    s = snap([it("x")], [agent("fresh", idle_for=5), agent("idle", idle_for=500)])
    assert pairs(s) == [("x", "idle")]


def test_capacity_is_respected_within_a_pass() -> None:
    s = snap([it("a1", waited=3), it("a2", waited=2), it("a3", waited=1)], [agent("a")])
    assert pairs(s) == [("a1", "a")]


def test_unavailable_excluded_wrapping_up_and_held_are_skipped() -> None:
    s = snap(
        [it("held", offered_to="z"), it("x", excluded_agent_ids=frozenset({"rejecter"}))],
        [agent("away", available=False), agent("rejecter"), agent("wrap", wrapup_until=NOW + 5)],
    )
    assert pairs(s) == []


def test_decisions_are_deterministic() -> None:
    s = snap(
        [it(f"i{n}", waited=n % 3) for n in range(10)],
        [agent(f"a{n}", idle_for=7) for n in range(4)],
    )
    assert pairs(s) == pairs(s)
    assert len(pairs(s)) == 4


def test_priority_explains_itself() -> None:
    p = priority(
        it("v", tier="vip", waited=95, lifetime_value=38_000), QUEUES["support"], Weights(), NOW
    )
    text = p.explain()
    assert "VIP +500" in text and "waited 95 s +95" in text and "value 38k +380" not in text
    assert "SLA breached +200" in text
    assert p.score == sum(part.points for part in p.parts)
