"""Agent-ordering strategies per queue: the first agent by the key gets the offer.

Every key takes the agent's load and `turn` (the order of the agent's offers made earlier in the
same pass, None if none yet) so strategies whose order moves as offers are made stay correct
within one pass, not only between passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from routing.types import AgentView, QueueView

SortKey = tuple[float, ...]
Strategy = Callable[[AgentView, QueueView, Mapping[str, int], "int | None"], SortKey]

# Strategies whose key changes when the agent gets an offer: the engine rescans instead of
# walking a pre-sorted pool.
DYNAMIC = frozenset({"least_occupied", "round_robin"})


def longest_idle(
    agent: AgentView, queue: QueueView, load: Mapping[str, int], turn: int | None
) -> SortKey:
    return (agent.idle_since,)


def least_occupied(
    agent: AgentView, queue: QueueView, load: Mapping[str, int], turn: int | None
) -> SortKey:
    used = sum(load.values()) / max(1, sum(agent.capacity.values()))
    return (used, agent.idle_since)


def round_robin(
    agent: AgentView, queue: QueueView, load: Mapping[str, int], turn: int | None
) -> SortKey:
    """Least recently offered first; an agent offered work in this pass goes to the back."""
    return (0.0, agent.last_offered_at) if turn is None else (1.0, float(turn))


def skills_weighted(
    agent: AgentView, queue: QueueView, load: Mapping[str, int], turn: int | None
) -> SortKey:
    score = sum(agent.skills.get(skill, 0) for skill in queue.required_skills)
    return (-float(score), agent.idle_since)


STRATEGIES: dict[str, Strategy] = {
    "longest_idle": longest_idle,
    "least_occupied": least_occupied,
    "round_robin": round_robin,
    "skills_weighted": skills_weighted,
}


def order_key(
    agent: AgentView, queue: QueueView, load: Mapping[str, int], turn: int | None = None
) -> tuple[SortKey, str]:
    """Deterministic: ties go to the smaller agent id; unknown strategies fall back to idle."""
    strategy = STRATEGIES.get(queue.strategy, longest_idle)
    return strategy(agent, queue, load, turn), agent.id
