"""Table-driven tests, one per routing rule."""

from __future__ import annotations

import pytest

from routing.engine import decide, rank
from routing.hours import is_open
from routing.types import QueueView, RoutingConfig, TimeWindow
from tests.unit.routing_builders import NOW, ag, it, offers, snap

SALES = QueueView(id="sales", required_skills={"sales": 5})


@pytest.mark.parametrize(
    ("skills", "expected"),
    [({"sales": 7}, {"x": "a"}), ({"sales": 5}, {"x": "a"}), ({"sales": 4}, {}), ({}, {})],
)
def test_required_skill_levels(skills: dict[str, int], expected: dict[str, str]) -> None:
    s = snap([it("x", queue="sales")], [ag("a", queues=("sales",), skills=skills)], [SALES])
    assert offers(s) == expected


@pytest.mark.parametrize(("waited", "expected"), [(10, {}), (31, {"x": "support-agent"})])
def test_overflow_to_another_queue_after_n_seconds(waited: float, expected: dict[str, str]) -> None:
    vip = QueueView(id="vip", overflow_after_s=30, overflow_to="support")
    s = snap([it("x", queue="vip", waited=waited)], [ag("support-agent")], [vip])
    assert offers(s) == expected
    if expected:
        assert "overflow to support" in decide(s, NOW)[0].reason


@pytest.mark.parametrize(("waited", "expected"), [(10, {}), (61, {"x": "junior"})])
def test_overflow_to_a_lower_skill_level(waited: float, expected: dict[str, str]) -> None:
    q = QueueView(
        id="sales", required_skills={"sales": 5}, overflow_after_s=60, overflow_min_level=2
    )
    s = snap(
        [it("x", queue="sales", waited=waited)],
        [ag("junior", queues=("sales",), skills={"sales": 2})],
        [q],
    )
    assert offers(s) == expected


@pytest.mark.parametrize(
    ("languages", "expected"), [(frozenset({"de", "en"}), {"x": "a"}), (frozenset({"en"}), {})]
)
def test_queue_language(languages: frozenset[str], expected: dict[str, str]) -> None:
    q = QueueView(id="de", language="de")
    s = snap([it("x", queue="de")], [ag("a", queues=("de",), languages=languages)], [q])
    assert offers(s) == expected


@pytest.mark.parametrize(
    ("load", "channel", "expected"),
    [
        ({"chat": 2}, "chat", {"x": "a"}),  # 3 chats allowed
        ({"chat": 3}, "chat", {}),
        ({"voice": 1}, "chat", {}),  # on a call: nothing else
        ({"email": 1}, "voice", {}),  # a call needs a free agent
        ({}, "voice", {"x": "a"}),
        ({"email": 4}, "chat", {"x": "a"}),  # channels are counted separately
    ],
)
def test_capacity_per_channel(load: dict[str, int], channel: str, expected: dict[str, str]) -> None:
    s = snap([it("x", channel=channel)], [ag("a", load=load)])
    assert offers(s) == expected


def test_channel_not_served_by_the_queue() -> None:
    q = QueueView(id="support", channels=frozenset({"email"}))
    assert offers(snap([it("x", channel="chat")], [ag("a")], [q])) == {}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("longest_idle", "idle"),
        ("least_occupied", "empty"),
        ("round_robin", "rested"),
        ("skills_weighted", "expert"),
    ],
)
def test_strategies(strategy: str, expected: str) -> None:
    q = QueueView(id="support", strategy=strategy, required_skills={"billing": 1})
    agents = [
        ag("idle", idle_for=900, load={"chat": 2}, skills={"billing": 1}, last_offered_at=NOW - 5),
        ag("empty", idle_for=10, skills={"billing": 1}, last_offered_at=NOW - 6),
        ag(
            "rested", idle_for=20, load={"chat": 1}, skills={"billing": 1}, last_offered_at=NOW - 99
        ),
        ag("expert", idle_for=5, load={"chat": 2}, skills={"billing": 9}, last_offered_at=NOW - 1),
    ]
    assert offers(snap([it("x", channel="chat")], agents, [q])) == {"x": expected}


def test_wrapup_blocks_offers_until_it_ends() -> None:
    s = snap([it("x")], [ag("a", wrapup_until=NOW + 5)])
    assert offers(s) == {}
    assert offers(s, NOW + 5) == {"x": "a"}


@pytest.mark.parametrize(
    ("waited", "preferred_free", "expected"),
    [(5, True, "pref"), (5, False, None), (31, False, "other")],
)
def test_relationship_window(waited: float, preferred_free: bool, expected: str | None) -> None:
    pref_load = {} if preferred_free else {"sms": 1}
    s = snap(
        [it("x", waited=waited, preferred_agent_id="pref")],
        [ag("other", idle_for=999), ag("pref", load=pref_load)],
        config=RoutingConfig(relationship_window_s=30),
    )
    assert offers(s).get("x") == expected


def test_an_away_preferred_agent_holds_nothing() -> None:
    s = snap([it("x", waited=1, preferred_agent_id="pref")], [ag("other")])
    assert offers(s) == {"x": "other"}


def test_same_tier_is_first_come_first_served_whatever_the_value() -> None:
    s = snap(
        [
            it("old", waited=10, tier="vip"),
            it("rich", waited=1, tier="vip", lifetime_value=10_000_000),
        ],
        [ag("a")],
    )
    assert offers(s) == {"old": "a"}


def test_business_hours() -> None:
    # NOW is Friday 08:00 UTC = 09:00 in Berlin.
    hours = (TimeWindow(weekday=4, start_minute=9 * 60, end_minute=17 * 60),)
    q = QueueView(id="support", timezone="Europe/Berlin", hours=hours)
    assert is_open(q, NOW)
    assert not is_open(q, NOW - 60)
    assert offers(snap([it("x")], [ag("a")], [q]), NOW - 60) == {}
    assert is_open(QueueView(id="always"), NOW)


def test_rank_gives_positions_and_estimated_waits() -> None:
    q = QueueView(id="support", avg_handle_s=120)
    s = snap(
        [it("a", waited=30), it("b", waited=20), it("c", waited=10, tier="vip")],
        [ag("x"), ag("y", available=True)],
        [q],
    )
    ranked = {r.interaction_id: r for r in rank(s, NOW)}
    assert [ranked[k].position for k in ("c", "a", "b")] == [1, 2, 3]
    assert ranked["b"].estimated_wait_s == 180.0  # 3 x 120 s / 2 agents
