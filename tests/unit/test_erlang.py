"""Erlang C against textbook values and against pyworkforce as an independent reference."""

from __future__ import annotations

import math

import pytest

from routing.erlang import (
    agents_needed,
    average_speed_of_answer,
    erlang_c,
    expected_wait,
    occupancy,
    service_level,
)


def test_textbook_value() -> None:
    # 10 Erlangs on 11 agents: probability of waiting 0.6821 (standard Erlang C tables).
    assert erlang_c(10, 11) == pytest.approx(0.6821, abs=1e-4)


def test_overload_and_edges() -> None:
    assert erlang_c(10, 10) == 1.0
    assert erlang_c(0, 3) == 0.0
    assert service_level(1, 10, 5, 20) == 0.0
    assert math.isinf(average_speed_of_answer(1, 10, 5))


def test_stable_for_large_centers() -> None:
    pw = erlang_c(800, 830)
    assert 0 < pw < 1


@pytest.mark.parametrize(
    ("calls", "interval_min", "aht_min", "agents", "target_s"),
    [(100, 30, 3, 14, 20), (100, 30, 3, 12, 20), (300, 60, 4, 24, 30), (1000, 60, 5, 90, 15)],
)
def test_matches_pyworkforce(
    calls: int, interval_min: int, aht_min: float, agents: int, target_s: float
) -> None:
    from pyworkforce.queuing import ErlangC

    ref = ErlangC(transactions=calls, aht=aht_min, asa=target_s / 60, interval=interval_min)
    rate = calls / (interval_min * 60)
    aht = aht_min * 60
    assert erlang_c(rate * aht, agents) == pytest.approx(ref.waiting_probability(agents), rel=1e-9)
    assert service_level(rate, aht, agents, target_s) == pytest.approx(
        ref.service_level(agents), rel=1e-9
    )
    assert occupancy(rate, aht, agents) == pytest.approx(ref.achieved_occupancy(agents), rel=1e-9)


def test_agents_needed_is_the_smallest_that_meets_the_target() -> None:
    n = agents_needed(100 / 1800, 180, 20, 80)
    assert service_level(100 / 1800, 180, n, 20) >= 0.8
    assert service_level(100 / 1800, 180, n - 1, 20) < 0.8
    assert n == 14  # the classic 100 calls / 30 min, 3 min AHT, 80 % in 20 s example


def test_expected_wait_grows_with_position() -> None:
    assert expected_wait(1, 2, 120) == 60
    assert expected_wait(4, 2, 120) == 240
