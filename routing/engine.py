"""decide(snapshot, now): which waiting interaction goes to which agent, highest priority first.

Pure: no I/O and no clock; the hub passes `now` and applies the decisions under its DB fence.
"""

from __future__ import annotations

from collections.abc import Mapping

from routing.priority import priority
from routing.types import (
    AgentView,
    Decision,
    InteractionView,
    Priority,
    QueueView,
    RoutingConfig,
    RoutingSnapshot,
)


def decide(snapshot: RoutingSnapshot, now: float) -> list[Decision]:
    config = snapshot.config
    load = {a.id: dict(a.load) for a in snapshot.agents}
    waiting = ranked_waiting(snapshot, now)
    decisions: list[Decision] = []
    for prio, interaction in waiting:
        queue = snapshot.queues.get(interaction.queue_id)
        if queue is None:
            continue
        candidates = [
            a for a in snapshot.agents if eligible(a, interaction, queue, load[a.id], config, now)
        ]
        if not candidates:
            continue
        agent, reason = choose(candidates, interaction, queue, load, config, now)
        load[agent.id][interaction.channel] = load[agent.id].get(interaction.channel, 0) + 1
        decisions.append(Decision(interaction.id, agent.id, prio, reason))
    return decisions


def ranked_waiting(snapshot: RoutingSnapshot, now: float) -> list[tuple[Priority, InteractionView]]:
    """Interactions not held by an offer, best first (ties: longest waiting, then id)."""
    weights = snapshot.config.weights
    scored = [
        (priority(i, snapshot.queues.get(i.queue_id), weights, now), i)
        for i in snapshot.interactions
        if i.offered_to is None
    ]
    scored.sort(key=lambda pi: (-pi[0].score, pi[1].enqueued_at, pi[1].id))
    return scored


def overflowed(queue: QueueView, interaction: InteractionView, now: float) -> bool:
    return (
        queue.overflow_after_s is not None
        and now - interaction.enqueued_at >= queue.overflow_after_s
    )


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
    if agent.wrapup_until is not None and agent.wrapup_until > now:
        return False
    if interaction.channel not in queue.channels:
        return False
    over = overflowed(queue, interaction, now)
    in_queue = queue.id in agent.queues or (
        over and queue.overflow_to is not None and queue.overflow_to in agent.queues
    )
    if not in_queue:
        return False
    floor = queue.overflow_min_level if over and queue.overflow_min_level is not None else None
    for skill, level in queue.required_skills.items():
        need = min(level, floor) if floor is not None else level
        if agent.skills.get(skill, 0) < need:
            return False
    language = queue.language or interaction.language
    if queue.language and language not in agent.languages:
        return False
    return has_capacity(agent, interaction.channel, load, config)


def has_capacity(
    agent: AgentView, channel: str, load: Mapping[str, int], config: RoutingConfig
) -> bool:
    total = sum(load.values())
    if any(load.get(c, 0) > 0 for c in config.exclusive_channels):
        return False  # on a call: nothing else
    if channel in config.exclusive_channels and total > 0:
        return False  # a call needs an agent with nothing else open
    return agent.capacity.get(channel, 0) - load.get(channel, 0) > 0


def choose(
    candidates: list[AgentView],
    interaction: InteractionView,
    queue: QueueView,
    load: Mapping[str, Mapping[str, int]],
    config: RoutingConfig,
    now: float,
) -> tuple[AgentView, str]:
    preferred = interaction.preferred_agent_id
    if preferred and now - interaction.enqueued_at < config.relationship_window_s:
        for agent in candidates:
            if agent.id == preferred:
                return agent, "preferred agent"
    reason = queue.strategy.replace("_", " ")
    if queue.id not in candidates[0].queues and overflowed(queue, interaction, now):
        reason += f" (overflow to {queue.overflow_to})"
    return min(candidates, key=lambda a: strategy_key(a, queue, load[a.id])), reason


def strategy_key(agent: AgentView, queue: QueueView, load: Mapping[str, int]) -> tuple:
    if queue.strategy == "least_occupied":
        used = sum(load.values()) / max(1, sum(agent.capacity.values()))
        return (used, agent.idle_since, agent.id)
    if queue.strategy == "round_robin":
        return (agent.last_offered_at, agent.id)
    if queue.strategy == "skills_weighted":
        score = sum(agent.skills.get(s, 0) for s in queue.required_skills)
        return (-score, agent.idle_since, agent.id)
    return (agent.idle_since, agent.id)  # longest_idle
