"""Erlang C against textbook values, against pyworkforce, and at call-center sizes."""

from __future__ import annotations

import math

import pytest

from routing.erlang import (
    agents_needed,
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    expected_wait,
    occupancy,
    service_level,
)


@pytest.mark.parametrize(
    ("traffic", "agents", "expected"),
    [(10, 11, 0.6821), (2, 3, 4 / 9), (1, 2, 1 / 3)],  # tables; closed forms
)
def test_textbook_values(traffic: float, agents: int, expected: float) -> None:
    assert erlang_c(traffic, agents) == pytest.approx(expected, abs=1e-4)


def test_erlang_b_textbook_value() -> None:
    assert erlang_b(10, 10) == pytest.approx(0.2146, abs=1e-4)


def test_overload_and_edges() -> None:
    assert erlang_c(10, 10) == 1.0
    assert erlang_c(0, 3) == 0.0
    assert service_level(1, 10, 5, 20) == 0.0
    assert math.isinf(average_speed_of_answer(1, 10, 5))
    assert agents_needed(0, 180, 20, 80) == 1


@pytest.mark.parametrize(("traffic", "agents"), [(800, 830), (2_000, 2_050), (500, 1_000)])
def test_stable_for_large_centers(traffic: float, agents: int) -> None:
    pw = erlang_c(traffic, agents)
    assert 0 <= pw < 1
    assert erlang_c(traffic, agents + 1) <= pw  # one more agent never hurts


def test_classic_example() -> None:
    # 100 calls / 30 min, 3 min AHT, 80 % in 20 s -> 14 agents (SL 0.888, ASA 7.8 s).
    rate = 100 / 1800
    assert agents_needed(rate, 180, 20, 80) == 14
    assert service_level(rate, 180, 14, 20) == pytest.approx(0.8883, abs=1e-3)
    assert average_speed_of_answer(rate, 180, 14) == pytest.approx(7.8, abs=0.1)
    assert occupancy(rate, 180, 14) == pytest.approx(10 / 14)


@pytest.mark.parametrize(
    ("rate", "aht", "target", "pct"),
    [
        (100 / 1800, 180, 20, 80),
        (5, 300, 20, 80),
        (0.2, 240, 30, 95),
        (1, 60, 10, 100),
    ],
)
def test_agents_needed_is_the_smallest_that_meets_the_target(
    rate: float, aht: float, target: float, pct: float
) -> None:
    n = agents_needed(rate, aht, target, pct)
    goal = min(pct, 99.999) / 100
    assert service_level(rate, aht, n, target) >= goal
    assert service_level(rate, aht, n - 1, target) < goal


def test_expected_wait_grows_with_position() -> None:
    assert expected_wait(1, 2, 120) == 60
    assert expected_wait(4, 2, 120) == 240
    assert math.isinf(expected_wait(1, 0, 120))


@pytest.mark.parametrize(
    ("calls", "interval_min", "aht_min", "agents", "target_s"),
    [(100, 30, 3, 14, 20), (100, 30, 3, 12, 20), (300, 60, 4, 24, 30), (1000, 60, 5, 90, 15)],
)
def test_matches_pyworkforce(
    calls: int, interval_min: int, aht_min: float, agents: int, target_s: float
) -> None:
    queuing = pytest.importorskip("pyworkforce.queuing")
    ref = queuing.ErlangC(transactions=calls, aht=aht_min, asa=target_s / 60, interval=interval_min)
    rate = calls / (interval_min * 60)
    aht = aht_min * 60
    assert erlang_c(rate * aht, agents) == pytest.approx(ref.waiting_probability(agents), rel=1e-9)
    assert service_level(rate, aht, agents, target_s) == pytest.approx(
        ref.service_level(agents), rel=1e-9
    )
    assert occupancy(rate, aht, agents) == pytest.approx(ref.achieved_occupancy(agents), rel=1e-9)
