"""Agent-ordering strategies per queue: the first agent by the key gets the offer."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from routing.types import AgentView, QueueView

SortKey = tuple[float, ...]


def longest_idle(agent: AgentView, queue: QueueView, load: Mapping[str, int]) -> SortKey:
    return (agent.idle_since,)


def least_occupied(agent: AgentView, queue: QueueView, load: Mapping[str, int]) -> SortKey:
    used = sum(load.values()) / max(1, sum(agent.capacity.values()))
    return (used, agent.idle_since)


def round_robin(agent: AgentView, queue: QueueView, load: Mapping[str, int]) -> SortKey:
    return (agent.last_offered_at,)


def skills_weighted(agent: AgentView, queue: QueueView, load: Mapping[str, int]) -> SortKey:
    score = sum(agent.skills.get(skill, 0) for skill in queue.required_skills)
    return (-float(score), agent.idle_since)


STRATEGIES: dict[str, Callable[[AgentView, QueueView, Mapping[str, int]], SortKey]] = {
    "longest_idle": longest_idle,
    "least_occupied": least_occupied,
    "round_robin": round_robin,
    "skills_weighted": skills_weighted,
}


def order_key(agent: AgentView, queue: QueueView, load: Mapping[str, int]) -> tuple[SortKey, str]:
    """Deterministic: ties go to the smaller agent id."""
    strategy = STRATEGIES.get(queue.strategy, longest_idle)
    return strategy(agent, queue, load), agent.id
