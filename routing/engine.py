"""decide(snapshot, now): which waiting interaction goes to which agent, best first.

Pure: no I/O and no clock; the hub passes `now` and applies the decisions under its DB fence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from routing.erlang import expected_wait
from routing.hours import is_open
from routing.priority import priority, score
from routing.strategies import DYNAMIC, order_key
from routing.types import (
    AgentView,
    Decision,
    InteractionView,
    QueueView,
    Ranked,
    RoutingConfig,
    RoutingSnapshot,
)


@dataclass
class _Pass:
    """What one pass has handed out so far: load and offer order per agent, agent pools."""

    load: dict[str, dict[str, int]]
    turns: dict[str, int] = field(default_factory=dict)
    pools: dict[tuple[str, str, bool], list[AgentView]] = field(default_factory=dict)

    def pool(
        self, ready: list[AgentView], queue: QueueView, channel: str, over: bool
    ) -> list[AgentView]:
        """Agents serving the queue in strategy order, built once per (queue, channel, overflow)."""
        key = (queue.id, channel, over)
        if key not in self.pools:
            self.pools[key] = sorted(
                (a for a in ready if serves(a, queue, over)),
                key=lambda a: order_key(a, queue, self.load[a.id]),
            )
        return self.pools[key]

    def give(self, agent: AgentView, channel: str) -> None:
        load = self.load[agent.id]
        load[channel] = load.get(channel, 0) + 1
        self.turns[agent.id] = len(self.turns)


def decide(snapshot: RoutingSnapshot, now: float) -> list[Decision]:
    """Offers for this pass: best interaction first, each to the best eligible agent."""
    config = snapshot.config
    state = _Pass(load={a.id: dict(a.load) for a in snapshot.agents})
    agents = {a.id: a for a in snapshot.agents}
    ready = [a for a in snapshot.agents if a.available and not _wrapping_up(a, now)]
    decisions: list[Decision] = []
    open_now = {q.id: is_open(q, now) for q in snapshot.queues.values()}
    for _score, interaction in ranked_waiting(snapshot, now):
        queue = snapshot.queues.get(interaction.queue_id)
        if queue is None or not open_now[queue.id]:
            continue
        held_for = relationship_hold(interaction, queue, agents, config, now)
        if held_for:
            pool = [agents[held_for]]
        else:
            over = overflowed(queue, interaction, now)
            pool = state.pool(ready, queue, interaction.channel, over)
        agent = pick(pool, interaction, queue, state, config, now)
        if agent is None:
            continue
        state.give(agent, interaction.channel)
        prio = priority(interaction, queue, config.weights, now)
        why = reason(agent, interaction, queue, held_for, now)
        decisions.append(Decision(interaction.id, agent.id, prio, why))
    return decisions


def pick(
    pool: list[AgentView],
    interaction: InteractionView,
    queue: QueueView,
    state: _Pass,
    config: RoutingConfig,
    now: float,
) -> AgentView | None:
    """The best eligible agent of a pool kept in strategy order.

    Agents found without capacity for the channel are dropped from the pool on the way: load only
    grows within a pass, so they stay full, and an exhausted pool costs nothing afterwards.
    """
    load = state.load
    if queue.strategy in DYNAMIC:  # the key moves with every offer: full scan
        found = [a for a in pool if eligible(a, interaction, queue, load[a.id], config, now)]
        if not found:
            return None
        return min(found, key=lambda a: order_key(a, queue, load[a.id], state.turns.get(a.id)))
    keep = 0
    for index, agent in enumerate(pool):
        if not has_capacity(agent, interaction.channel, load[agent.id], config):
            continue
        pool[keep] = agent
        keep += 1
        if eligible(agent, interaction, queue, load[agent.id], config, now):
            pool[keep:] = pool[index + 1 :]
            return agent
    del pool[keep:]
    return None


def _wrapping_up(agent: AgentView, now: float) -> bool:
    return agent.wrapup_until is not None and agent.wrapup_until > now


def serves(agent: AgentView, queue: QueueView, over: bool) -> bool:
    return queue.id in agent.queues or (
        over and queue.overflow_to is not None and queue.overflow_to in agent.queues
    )


def ranked_waiting(snapshot: RoutingSnapshot, now: float) -> list[tuple[float, InteractionView]]:
    """Interactions not held by an offer, best first.

    Within one queue and tier the order is first come, first served: an older interaction takes
    the best score of any newer one of its queue and tier (value differences never let a newer
    contact jump an older one of the same tier). Across tiers the scores decide.
    """
    weights = snapshot.config.weights
    scored = [
        (score(i, snapshot.queues.get(i.queue_id), weights, now), i)
        for i in snapshot.interactions
        if i.offered_to is None
    ]
    groups: dict[tuple[str, str], list[tuple[float, InteractionView]]] = defaultdict(list)
    for item in scored:
        groups[(item[1].queue_id, item[1].tier)].append(item)
    effective: dict[str, float] = {}
    for members in groups.values():
        members.sort(key=lambda pi: (pi[1].enqueued_at, pi[1].id), reverse=True)  # newest first
        best = float("-inf")
        for points, it in members:
            best = max(best, points)
            effective[it.id] = best
    scored.sort(key=lambda pi: (-effective[pi[1].id], pi[1].enqueued_at, pi[1].id))
    return scored


def relationship_hold(
    interaction: InteractionView,
    queue: QueueView,
    agents: Mapping[str, AgentView],
    config: RoutingConfig,
    now: float,
) -> str | None:
    """Within the window, an available preferred agent who could take the interaction is the only
    candidate (the offer waits while they are momentarily busy or wrapping up); an absent, away,
    excluded or unqualified preferred agent holds nothing, so the contact is not delayed for
    someone who can never take it."""
    preferred = interaction.preferred_agent_id
    if not preferred or now - interaction.enqueued_at >= config.relationship_window_s:
        return None
    agent = agents.get(preferred)
    if agent is None or not agent.available or excluded(interaction, preferred, now):
        return None
    return preferred if qualified(agent, interaction, queue, config, now) else None


def overflowed(queue: QueueView, interaction: InteractionView, now: float) -> bool:
    after = queue.overflow_after_s
    return after is not None and now - interaction.enqueued_at >= after


def eligible(
    agent: AgentView,
    interaction: InteractionView,
    queue: QueueView,
    load: Mapping[str, int],
    config: RoutingConfig,
    now: float,
) -> bool:
    """Can take this interaction right now (qualified, free, and with room on the channel)."""
    if not agent.available or excluded(interaction, agent.id, now):
        return False
    if _wrapping_up(agent, now) or not qualified(agent, interaction, queue, config, now):
        return False
    return has_capacity(agent, interaction.channel, load, config)


def excluded(interaction: InteractionView, agent_id: str, now: float) -> bool:
    """Rejected it or let its offer time out, and the exclusion has not lapsed: while it is in
    force the contact goes to someone else; after it, an agent everyone passed over gets it."""
    return agent_id in interaction.excluded_agent_ids and now < interaction.excluded_until


def qualified(
    agent: AgentView,
    interaction: InteractionView,
    queue: QueueView,
    config: RoutingConfig,
    now: float,
) -> bool:
    """Could take it at all: queue membership (or overflow), skill levels and languages."""
    if interaction.channel not in queue.channels:
        return False
    over = overflowed(queue, interaction, now)
    if not serves(agent, queue, over):
        return False
    floor = queue.overflow_min_level if over else None
    for skill, level in queue.required_skills.items():
        need = min(level, floor) if floor is not None else level
        if agent.skills.get(skill, 0) < need:
            return False
    if queue.language and queue.language not in agent.languages:
        return False
    return speaks_customer_language(agent, interaction, config, now)


def speaks_customer_language(
    agent: AgentView, interaction: InteractionView, config: RoutingConfig, now: float
) -> bool:
    """The customer's language (primary subtag: "de-AT" -> "de") is required for
    `language_window_s`; after that anyone else eligible may answer rather than nobody."""
    if not interaction.language or now - interaction.enqueued_at >= config.language_window_s:
        return True
    return speaks(agent, interaction.language)


def speaks(agent: AgentView, language: str) -> bool:
    wanted = _primary(language)
    return not wanted or any(_primary(spoken) == wanted for spoken in agent.languages)


def _primary(language: str | None) -> str:
    return (language or "").replace("_", "-").split("-")[0].strip().casefold()


def has_room(agent: AgentView, config: RoutingConfig, now: float) -> bool:
    """Could take some interaction now: available, not wrapping up, room on some channel."""
    return (
        agent.available
        and not _wrapping_up(agent, now)
        and any(has_capacity(agent, channel, agent.load, config) for channel in agent.capacity)
    )


def has_capacity(
    agent: AgentView, channel: str, load: Mapping[str, int], config: RoutingConfig
) -> bool:
    if any(load.get(c, 0) > 0 for c in config.exclusive_channels):
        return False  # on a call: nothing else
    if channel in config.exclusive_channels and sum(load.values()) > 0:
        return False  # a call needs an agent with nothing else open
    return agent.capacity.get(channel, 0) - load.get(channel, 0) > 0


def reason(
    agent: AgentView, interaction: InteractionView, queue: QueueView, held: str | None, now: float
) -> str:
    if held:
        return "preferred agent"
    text = queue.strategy.replace("_", " ")
    if queue.id not in agent.queues:
        text += f", overflow to {queue.overflow_to}"
    elif overflowed(queue, interaction, now) and queue.overflow_min_level is not None:
        text += ", overflow to lower skill level"
    if interaction.language and not speaks(agent, interaction.language):
        text += f", language window over ({interaction.language})"
    return text


def rank(snapshot: RoutingSnapshot, now: float) -> list[Ranked]:
    """Position per queue (1 = next) and estimated wait, for voice prompts and the chat widget."""
    staffed: dict[str, int] = defaultdict(int)
    for agent in snapshot.agents:
        for queue_id in agent.queues:
            staffed[queue_id] += 1
    positions: dict[str, int] = defaultdict(int)
    out = []
    weights = snapshot.config.weights
    for _score, it in ranked_waiting(snapshot, now):
        positions[it.queue_id] += 1
        queue = snapshot.queues.get(it.queue_id)
        prio = priority(it, queue, weights, now)
        agents = staffed.get(it.queue_id, 0)
        estimate = (
            expected_wait(positions[it.queue_id], agents, queue.avg_handle_s)
            if queue is not None and agents
            else None
        )
        out.append(Ranked(it.id, it.queue_id, positions[it.queue_id], prio, estimate))
    return out
