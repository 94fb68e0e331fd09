"""Erlang C: probability of waiting, service level, average speed of answer, agents needed.

Computed with the Erlang B recurrence (B(k) = A·B(k-1) / (k + A·B(k-1))), which stays stable for
hundreds of agents where factorials overflow.
"""

from __future__ import annotations

import math


def erlang_b(traffic: float, agents: int) -> float:
    if agents <= 0:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a contact waits (traffic in Erlangs = arrival rate x handle time)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0  # overloaded: everyone waits, the queue grows without bound
    return _c_from_b(erlang_b(traffic, agents), traffic, agents)


def _c_from_b(b: float, traffic: float, agents: int) -> float:
    return agents * b / (agents - traffic * (1 - b))


def _service_level(pw: float, traffic: float, agents: int, aht_s: float, target_s: float) -> float:
    return max(0.0, 1.0 - pw * math.exp(-(agents - traffic) * target_s / aht_s))


def service_level(arrival_rate_s: float, aht_s: float, agents: int, target_s: float) -> float:
    """Share of contacts answered within `target_s`."""
    traffic = arrival_rate_s * aht_s
    if agents <= traffic:
        return 0.0
    return _service_level(erlang_c(traffic, agents), traffic, agents, aht_s, target_s)


def average_speed_of_answer(arrival_rate_s: float, aht_s: float, agents: int) -> float:
    traffic = arrival_rate_s * aht_s
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht_s / (agents - traffic)


def occupancy(arrival_rate_s: float, aht_s: float, agents: int) -> float:
    return min(1.0, arrival_rate_s * aht_s / agents) if agents > 0 else 1.0


def agents_needed(
    arrival_rate_s: float, aht_s: float, target_s: float, service_level_pct: float
) -> int:
    """Fewest agents meeting the service level (e.g. 80 % in 20 s).

    Walks the Erlang B recurrence once, so a 1,000-agent answer costs 1,000 steps, not a
    million; a target of 100 % is unreachable and is capped at 99.999 %.
    """
    traffic = arrival_rate_s * aht_s
    if traffic <= 0:
        return 1  # keep someone logged in even when nothing is forecast
    goal = min(service_level_pct, 99.999) / 100
    b, agents = 1.0, 0
    while True:
        agents += 1
        b = traffic * b / (agents + traffic * b)
        if agents > traffic:
            pw = _c_from_b(b, traffic, agents)
            if _service_level(pw, traffic, agents, aht_s, target_s) >= goal:
                return agents


def expected_wait(position: int, agents: int, aht_s: float) -> float:
    """Expected wait of the contact at `position` (1 = next) when all `agents` are busy:
    agents free up at rate agents / aht, and `position` of those releases are needed."""
    if agents <= 0:
        return math.inf
    return position * aht_s / agents
