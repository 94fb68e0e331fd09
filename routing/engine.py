"""decide(snapshot, now): which waiting interaction goes to which agent, best first.

Pure: no I/O and no clock; the hub passes `now` and applies the decisions under its DB fence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from routing.erlang import expected_wait
from routing.hours import is_open
from routing.priority import priority, score
from routing.strategies import order_key
from routing.types import (
    AgentView,
    Decision,
    InteractionView,
    QueueView,
    Ranked,
    RoutingConfig,
    RoutingSnapshot,
)


def decide(snapshot: RoutingSnapshot, now: float) -> list[Decision]:
    config = snapshot.config
    load = {a.id: dict(a.load) for a in snapshot.agents}
    agents = {a.id: a for a in snapshot.agents}
    ready = [a for a in snapshot.agents if a.available and not _wrapping_up(a, now)]
    pools: dict[tuple[str, str, bool], list[AgentView]] = {}
    decisions: list[Decision] = []
    open_now = {q.id: is_open(q, now) for q in snapshot.queues.values()}
    for _score, interaction in ranked_waiting(snapshot, now):
        queue = snapshot.queues.get(interaction.queue_id)
        if queue is None or not open_now[queue.id]:
            continue
        held_for = relationship_hold(interaction, agents, config, now)
        if held_for:
            pool = [agents[held_for]]
        else:
            key = (queue.id, interaction.channel, overflowed(queue, interaction, now))
            if key not in pools:
                pools[key] = sorted(
                    (a for a in ready if serves(a, queue, key[2])),
                    key=lambda a: order_key(a, queue, load[a.id]),
                )
            pool = pools[key]
        agent = pick(pool, interaction, queue, load, config, now)
        if agent is None:
            continue
        load[agent.id][interaction.channel] = load[agent.id].get(interaction.channel, 0) + 1
        prio = priority(interaction, queue, config.weights, now)
        decisions.append(
            Decision(
                interaction.id, agent.id, prio, reason(agent, interaction, queue, held_for, now)
            )
        )
    return decisions


def pick(
    pool: list[AgentView],
    interaction: InteractionView,
    queue: QueueView,
    load: Mapping[str, Mapping[str, int]],
    config: RoutingConfig,
    now: float,
) -> AgentView | None:
    """The best eligible agent of a pool kept in strategy order.

    Agents found without capacity for the channel are dropped from the pool on the way: load only
    grows within a pass, so they stay full, and an exhausted pool costs nothing afterwards.
    """
    if queue.strategy == "least_occupied":  # the key moves with every offer: full scan
        found = [a for a in pool if eligible(a, interaction, queue, load[a.id], config, now)]
        return min(found, key=lambda a: order_key(a, queue, load[a.id])) if found else None
    keep = 0
    chosen = None
    for index, agent in enumerate(pool):
        if not has_capacity(agent, interaction.channel, load[agent.id], config):
            continue
        pool[keep] = agent
        keep += 1
        if eligible(agent, interaction, queue, load[agent.id], config, now):
            chosen = agent
            pool[keep:] = pool[index + 1 :]
            return chosen
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
    agents: Mapping[str, AgentView],
    config: RoutingConfig,
    now: float,
) -> str | None:
    """Within the window, an available preferred agent is the only candidate (the offer waits for
    them); an absent, excluded or away preferred agent holds nothing."""
    preferred = interaction.preferred_agent_id
    if not preferred or now - interaction.enqueued_at >= config.relationship_window_s:
        return None
    agent = agents.get(preferred)
    if agent is None or not agent.available or preferred in interaction.excluded_agent_ids:
        return None
    return preferred


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
    if not agent.available or agent.id in interaction.excluded_agent_ids:
        return False
    if _wrapping_up(agent, now) or interaction.channel not in queue.channels:
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
    return has_capacity(agent, interaction.channel, load, config)


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
