"""Property tests: whatever the snapshot, decide() keeps the routing invariants."""

from __future__ import annotations

import itertools
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import decide, eligible, excluded, has_room, rank
from routing.priority import priority
from routing.types import (
    CHANNELS,
    TIERS,
    AgentView,
    InteractionView,
    QueueView,
    RoutingConfig,
    RoutingSnapshot,
)

NOW = 1_800_000_000.0
AGENT_IDS = [f"a{n}" for n in range(6)]
QUEUES = {
    "support": QueueView(id="support"),
    "sales": QueueView(id="sales", required_skills={"sales": 3}, strategy="least_occupied"),
    "vip": QueueView(id="vip", overflow_after_s=30, overflow_to="support", strategy="round_robin"),
    "de": QueueView(
        id="de",
        language="de",
        strategy="skills_weighted",
        overflow_after_s=20,
        overflow_min_level=1,
        required_skills={"sales": 2},
    ),
}

interactions = st.builds(
    InteractionView,
    id=st.uuids().map(str),
    queue_id=st.sampled_from(sorted(QUEUES)),
    channel=st.sampled_from(CHANNELS),
    enqueued_at=st.floats(NOW - 600, NOW),
    tier=st.sampled_from(TIERS),
    lifetime_value=st.floats(0, 1e6),
    language=st.none() | st.sampled_from(["de", "en", "fi"]),
    preferred_agent_id=st.none() | st.sampled_from(AGENT_IDS),
    excluded_agent_ids=st.frozensets(st.sampled_from(AGENT_IDS), max_size=2),
    excluded_until=st.sampled_from([math.inf, NOW + 1, NOW, NOW - 1]),
    offered_to=st.none() | st.just("a0"),
)


@st.composite
def agents(draw: st.DrawFn) -> list[AgentView]:
    out = []
    for n in range(draw(st.integers(0, 6))):
        capacity = draw(st.fixed_dictionaries({c: st.integers(0, 3) for c in CHANNELS}))
        out.append(
            AgentView(
                id=f"a{n}",
                available=draw(st.booleans()),
                queues=draw(st.frozensets(st.sampled_from(sorted(QUEUES)), min_size=1)),
                skills={"sales": draw(st.integers(0, 5))},
                languages=draw(st.frozensets(st.sampled_from(["de", "en"]))),
                capacity=capacity,
                load={c: draw(st.integers(0, capacity[c])) for c in CHANNELS},
                idle_since=draw(st.floats(NOW - 3600, NOW)),
                wrapup_until=draw(st.none() | st.floats(NOW - 10, NOW + 10)),
                last_offered_at=draw(st.floats(NOW - 3600, NOW)),
            )
        )
    return out


snapshots = st.builds(
    lambda its, ags: RoutingSnapshot(tuple(its), tuple(ags), QUEUES, RoutingConfig()),
    st.lists(interactions, max_size=25, unique_by=lambda i: i.id),
    agents(),
)


@settings(max_examples=300, deadline=None)
@given(snapshots)
def test_one_decision_per_interaction_and_only_for_waiting_ones(s: RoutingSnapshot) -> None:
    ids = [d.interaction_id for d in decide(s, NOW)]
    assert len(ids) == len(set(ids))
    assert {i.id for i in s.interactions if i.offered_to is not None}.isdisjoint(ids)


@settings(max_examples=300, deadline=None)
@given(snapshots)
def test_agents_are_eligible_never_excluded_and_never_over_capacity(s: RoutingSnapshot) -> None:
    by_id = {i.id: i for i in s.interactions}
    agents = {a.id: a for a in s.agents}
    load = {a.id: dict(a.load) for a in s.agents}
    for d in decide(s, NOW):  # replay in order: each offer was legal when it was made
        interaction, agent = by_id[d.interaction_id], agents[d.agent_id]
        assert not excluded(interaction, agent.id, NOW)
        queue = QUEUES[interaction.queue_id]
        assert eligible(agent, interaction, queue, load[agent.id], s.config, NOW)
        load[agent.id][interaction.channel] = load[agent.id].get(interaction.channel, 0) + 1
    for agent in s.agents:
        for channel, used in load[agent.id].items():
            if used > agent.load.get(channel, 0):
                assert used <= agent.capacity.get(channel, 0)
        exclusive = sum(load[agent.id].get(c, 0) for c in s.config.exclusive_channels)
        if exclusive > sum(agent.load.get(c, 0) for c in s.config.exclusive_channels):
            assert sum(load[agent.id].values()) == 1  # a new call: nothing else at all


@settings(max_examples=200, deadline=None)
@given(snapshots, st.randoms(use_true_random=False))
def test_decisions_are_deterministic_whatever_the_input_order(
    s: RoutingSnapshot, rnd: random.Random
) -> None:
    its, ags = list(s.interactions), list(s.agents)
    rnd.shuffle(its)
    rnd.shuffle(ags)
    shuffled = RoutingSnapshot(tuple(its), tuple(ags), s.queues, s.config)
    assert decide(s, NOW) == decide(s, NOW) == decide(shuffled, NOW)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(interactions, min_size=2, max_size=15, unique_by=lambda i: i.id),
    agents(),
    st.sampled_from(sorted(QUEUES)),
)
def test_a_better_ranked_interaction_is_never_skipped_for_a_worse_one(
    its: list[InteractionView], ags: list[AgentView], queue_id: str
) -> None:
    # One queue and channel, no language, preference or exclusion: eligibility is identical
    # (overflow aside, which only widens it for the older one), so offers follow the ranking.
    same = [
        InteractionView(
            id=i.id,
            queue_id=queue_id,
            channel="chat",
            enqueued_at=i.enqueued_at,
            tier=i.tier,
            lifetime_value=i.lifetime_value,
        )
        for i in its
    ]
    if QUEUES[queue_id].overflow_after_s is not None:  # keep eligibility identical
        same = [i for i in same if NOW - i.enqueued_at < QUEUES[queue_id].overflow_after_s]
    s = RoutingSnapshot(tuple(same), tuple(ags), QUEUES, RoutingConfig())
    offered = {d.interaction_id for d in decide(s, NOW)}
    order = [r.interaction_id for r in sorted(rank(s, NOW), key=lambda r: r.position)]
    for better, worse in itertools.pairwise(order):
        if worse in offered:
            assert better in offered


@settings(max_examples=300, deadline=None)
@given(st.lists(interactions, min_size=2, max_size=15, unique_by=lambda i: i.id), agents())
def test_the_oldest_of_a_tier_is_never_passed_by_a_newer_one(
    its: list[InteractionView], ags: list[AgentView]
) -> None:
    same = [
        InteractionView(
            id=i.id,
            queue_id="support",
            channel="chat",
            enqueued_at=i.enqueued_at,
            tier="vip",
            lifetime_value=i.lifetime_value,
        )
        for i in its
    ]
    offered = {
        d.interaction_id for d in decide(RoutingSnapshot(tuple(same), tuple(ags), QUEUES), NOW)
    }
    for older in same:
        for newer in same:
            if newer.enqueued_at > older.enqueued_at and newer.id in offered:
                assert older.id in offered


@settings(max_examples=300, deadline=None)
@given(interactions, st.floats(0, 3600), st.floats(0, 3600))
def test_priority_never_decreases_while_waiting(
    i: InteractionView, later: float, more: float
) -> None:
    queue = QUEUES[i.queue_id]
    w = RoutingConfig().weights
    assert (
        priority(i, queue, w, NOW + later).score <= priority(i, queue, w, NOW + later + more).score
    )


@settings(max_examples=300, deadline=None)
@given(snapshots)
def test_no_agent_with_room_means_no_decision(s: RoutingSnapshot) -> None:
    """What lets a routing pass skip reading the queue while everyone is full (has_room)."""
    if not any(has_room(a, s.config, NOW) for a in s.agents):
        assert decide(s, NOW) == []
    for d in decide(s, NOW):
        agent = next(a for a in s.agents if a.id == d.agent_id)
        assert has_room(agent, s.config, NOW)
