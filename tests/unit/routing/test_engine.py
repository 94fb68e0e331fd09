"""decide(), rank() and is_open(): one test (or table) per routing rule."""

from __future__ import annotations

import pytest
from builders import NOW, ag, it, offers, pairs, snap

from routing.engine import decide, is_open, rank
from routing.types import AgentView, QueueView, RoutingConfig, TimeWindow

SALES = QueueView(id="sales", required_skills={"sales": 5})


def test_higher_tier_goes_first() -> None:
    s = snap([it("std", waited=20), it("vip", tier="vip")], [ag("a")])
    assert pairs(s) == [("vip", "a")]


def test_aging_eventually_overtakes_tier() -> None:
    s = snap([it("old", waited=600), it("vip", tier="vip")], [ag("a")])
    assert pairs(s) == [("old", "a")]
    young = snap([it("old", waited=100), it("vip", tier="vip")], [ag("a")])
    assert pairs(young) == [("vip", "a")]


def test_ties_go_to_the_earlier_then_the_smaller_id() -> None:
    s = snap([it("b"), it("a"), it("c", waited=0.5)], [ag("x", capacity={"sms": 3})])
    assert [i for i, _ in pairs(s)] == ["c", "a", "b"]


def test_same_tier_is_first_come_first_served_whatever_the_value() -> None:
    s = snap(
        [
            it("old", waited=10, tier="vip"),
            it("rich", waited=1, tier="vip", lifetime_value=10_000_000),
        ],
        [ag("a")],
    )
    assert offers(s) == {"old": "a"}


def test_held_interactions_are_skipped() -> None:
    assert offers(snap([it("held", offered_to="z")], [ag("a")])) == {}


def test_longest_idle_agent_first() -> None:
    s = snap([it("x")], [ag("fresh", idle_for=5), ag("idle", idle_for=500)])
    assert pairs(s) == [("x", "idle")]
    assert decide(s, NOW)[0].reason == "longest idle"


def test_capacity_is_used_up_within_a_pass() -> None:
    s = snap([it("a1", waited=3), it("a2", waited=2), it("a3", waited=1)], [ag("a")])
    assert pairs(s) == [("a1", "a")]
    chats = snap([it(f"c{n}", channel="chat", waited=9 - n) for n in range(5)], [ag("a")])
    assert len(pairs(chats)) == 3  # chat capacity 3


@pytest.mark.parametrize(
    ("load", "channel", "expected"),
    [
        ({"chat": 2}, "chat", {"x": "a"}),
        ({"chat": 3}, "chat", {}),
        ({"voice": 1}, "chat", {}),  # on a call: nothing else
        ({"email": 1}, "voice", {}),  # a call needs a free agent
        ({}, "voice", {"x": "a"}),
        ({"email": 4}, "chat", {"x": "a"}),  # channels are counted separately
        ({}, "fax", {}),  # no capacity declared = none
    ],
)
def test_capacity_per_channel_and_exclusive_voice(
    load: dict[str, int], channel: str, expected: dict[str, str]
) -> None:
    q = QueueView(id="support", channels=frozenset({"voice", "sms", "chat", "email", "fax"}))
    assert offers(snap([it("x", channel=channel)], [ag("a", load=load)], [q])) == expected


def test_channel_not_served_by_the_queue() -> None:
    q = QueueView(id="support", channels=frozenset({"email"}))
    assert offers(snap([it("x", channel="chat")], [ag("a")], [q])) == {}


def test_a_call_and_a_chat_in_one_pass_never_land_on_one_agent() -> None:
    s = snap([it("call", channel="voice", waited=5), it("chat", channel="chat")], [ag("a")])
    assert offers(s) == {"call": "a"}


@pytest.mark.parametrize(
    ("skills", "expected"),
    [({"sales": 7}, {"x": "a"}), ({"sales": 5}, {"x": "a"}), ({"sales": 4}, {}), ({}, {})],
)
def test_required_skill_levels(skills: dict[str, int], expected: dict[str, str]) -> None:
    s = snap([it("x", queue="sales")], [ag("a", queues=("sales",), skills=skills)], [SALES])
    assert offers(s) == expected


@pytest.mark.parametrize(
    ("languages", "expected"), [(frozenset({"de", "en"}), {"x": "a"}), (frozenset({"en"}), {})]
)
def test_queue_language(languages: frozenset[str], expected: dict[str, str]) -> None:
    q = QueueView(id="de", language="de")
    s = snap([it("x", queue="de")], [ag("a", queues=("de",), languages=languages)], [q])
    assert offers(s) == expected


@pytest.mark.parametrize(
    ("language", "waited", "expected"),
    [
        ("de", 0, "de-speaker"),
        ("de-AT", 0, "de-speaker"),
        (None, 0, "en-speaker"),
        ("fi", 0, None),
        ("fi", 61, "en-speaker"),
    ],
)
def test_customer_language_for_a_window_then_anyone(
    language: str | None, waited: float, expected: str | None
) -> None:
    agents = [
        ag("en-speaker", idle_for=900, languages=frozenset({"en"})),
        ag("de-speaker", idle_for=10, languages=frozenset({"de", "en"})),
    ]
    s = snap(
        [it("x", language=language, waited=waited)],
        agents,
        config=RoutingConfig(language_window_s=60),
    )
    assert offers(s).get("x") == expected


def test_excluded_agents_get_nothing() -> None:
    s = snap([it("x", excluded_agent_ids=frozenset({"rejecter"}))], [ag("rejecter")])
    assert offers(s) == {}


def test_exclusions_lapse_so_nobody_is_stranded() -> None:
    """Everyone passed over it: while the exclusions hold it waits (another agent may come),
    from `excluded_until` on the agents who passed get it again."""
    passed = frozenset({"rejecter", "missed"})
    agents = [ag("rejecter", idle_for=50), ag("missed", idle_for=10)]
    held = snap([it("x", excluded_agent_ids=passed, excluded_until=NOW + 0.001)], agents)
    assert offers(held) == {}
    lapsed = snap([it("x", excluded_agent_ids=passed, excluded_until=NOW)], agents)
    assert offers(lapsed) == {"x": "rejecter"}


def test_a_lapsed_exclusion_frees_the_preferred_agent_too() -> None:
    agents = [ag("pref", idle_for=1), ag("other", idle_for=900)]
    kept = it("x", preferred_agent_id="pref", excluded_agent_ids=frozenset({"pref"}))
    assert offers(snap([kept], agents)) == {"x": "other"}
    lapsed = it(
        "x", preferred_agent_id="pref", excluded_agent_ids=frozenset({"pref"}), excluded_until=NOW
    )
    assert offers(snap([lapsed], agents)) == {"x": "pref"}


def test_unavailable_agents_get_nothing() -> None:
    assert offers(snap([it("x")], [ag("away", available=False)])) == {}


def test_wrapup_blocks_offers_until_it_ends() -> None:
    s = snap([it("x")], [ag("a", wrapup_until=NOW + 5)])
    assert offers(s) == {}
    assert offers(s, NOW + 5) == {"x": "a"}


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
    ("strategy", "expected", "why"),
    [
        ("longest_idle", "idle", "longest idle"),
        ("least_occupied", "empty", "least occupied"),
        ("round_robin", "rested", "round robin"),
        ("skills_weighted", "expert", "skills weighted"),
    ],
)
def test_strategies(strategy: str, expected: str, why: str) -> None:
    q = QueueView(id="support", strategy=strategy, required_skills={"billing": 1})
    agents = [
        ag("idle", idle_for=900, load={"chat": 2}, skills={"billing": 1}, last_offered_at=NOW - 5),
        ag("empty", idle_for=10, skills={"billing": 1}, last_offered_at=NOW - 6),
        ag(
            "rested", idle_for=20, load={"chat": 1}, skills={"billing": 1}, last_offered_at=NOW - 99
        ),
        ag("expert", idle_for=5, load={"chat": 2}, skills={"billing": 9}, last_offered_at=NOW - 1),
    ]
    (d,) = decide(snap([it("x", channel="chat")], agents, [q]), NOW)
    assert (d.agent_id, d.reason) == (expected, why)


def test_round_robin_rotates_within_one_pass() -> None:
    q = QueueView(id="support", strategy="round_robin")
    agents = [ag("a", last_offered_at=NOW - 30), ag("b", last_offered_at=NOW - 20)]
    s = snap([it(f"c{n}", channel="chat", waited=9 - n) for n in range(4)], agents, [q])
    assert [a for _, a in pairs(s)] == ["a", "b", "a", "b"]


def test_least_occupied_spreads_within_one_pass() -> None:
    q = QueueView(id="support", strategy="least_occupied")
    s = snap([it(f"c{n}", channel="chat", waited=9 - n) for n in range(4)], [ag("a"), ag("b")], [q])
    assert sorted(a for _, a in pairs(s)) == ["a", "a", "b", "b"]


@pytest.mark.parametrize(
    ("waited", "pref_load", "expected"),
    [(5, {}, "pref"), (5, {"sms": 1}, None), (31, {"sms": 1}, "other")],
)
def test_relationship_window(
    waited: float, pref_load: dict[str, int], expected: str | None
) -> None:
    s = snap(
        [it("x", waited=waited, preferred_agent_id="pref")],
        [ag("other", idle_for=999), ag("pref", load=pref_load)],
        config=RoutingConfig(relationship_window_s=30),
    )
    assert offers(s).get("x") == expected
    if expected == "pref":
        assert decide(s, NOW)[0].reason == "preferred agent"


@pytest.mark.parametrize(
    "pref",
    [
        ag("pref", available=False),  # away
        ag("pref", queues=("sales",)),  # cannot take this queue at all
        ag("pref", languages=frozenset({"en"})),  # does not speak the customer's language
    ],
)
def test_a_preferred_agent_who_cannot_take_it_holds_nothing(pref: AgentView) -> None:
    s = snap(
        [it("x", waited=1, preferred_agent_id="pref", language="de")],
        [ag("other", languages=frozenset({"de"})), pref],
    )
    assert offers(s) == {"x": "other"}


def test_excluded_preferred_agent_holds_nothing() -> None:
    s = snap(
        [it("x", preferred_agent_id="pref", excluded_agent_ids=frozenset({"pref"}))],
        [ag("other"), ag("pref", idle_for=999)],
    )
    assert offers(s) == {"x": "other"}


def test_business_hours() -> None:
    # NOW is Friday 08:00 UTC = 09:00 in Berlin.
    hours = (TimeWindow(weekday=4, start_minute=9 * 60, end_minute=17 * 60),)
    q = QueueView(id="support", timezone="Europe/Berlin", hours=hours)
    assert is_open(q, NOW)
    assert not is_open(q, NOW - 60)
    assert not is_open(q, NOW + 8 * 3600)  # 17:00 is closed (end exclusive)
    assert offers(snap([it("x")], [ag("a")], [q]), NOW - 60) == {}
    assert offers(snap([it("x")], [ag("a")], [q]), NOW) == {"x": "a"}
    assert is_open(QueueView(id="always"), NOW)


def test_unknown_queue_gets_no_decision() -> None:
    assert offers(snap([it("x", queue="nowhere")], [ag("a", queues=("nowhere",))])) == {}


def test_decisions_are_deterministic_and_independent_of_input_order() -> None:
    its = [it(f"i{n}", waited=n % 3) for n in range(10)]
    agents = [ag(f"a{n}", idle_for=7) for n in range(4)]
    first = decide(snap(its, agents), NOW)
    assert first == decide(snap(its, agents), NOW)
    assert first == decide(snap(its[::-1], agents[::-1]), NOW)
    assert len(first) == 4


def test_rank_gives_positions_per_queue_and_estimated_waits() -> None:
    q = QueueView(id="support", avg_handle_s=120)
    other = QueueView(id="sales")
    s = snap(
        [
            it("a", waited=30),
            it("b", waited=20),
            it("c", waited=10, tier="vip"),
            it("s", queue="sales"),
            it("held", offered_to="x"),
        ],
        [ag("x"), ag("y")],
        [q, other],
    )
    ranked = {r.interaction_id: r for r in rank(s, NOW)}
    assert [ranked[k].position for k in ("c", "a", "b", "s")] == [1, 2, 3, 1]
    assert ranked["b"].estimated_wait_s == 180.0  # 3 x 120 s / 2 agents
    assert ranked["s"].estimated_wait_s is None  # nobody staffs sales
    assert "held" not in ranked
    assert ranked["c"].priority.parts[0].label == "VIP"
