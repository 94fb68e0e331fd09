"""The explainable score: each part, its label, and how the parts add up."""

from __future__ import annotations

import pytest
from builders import NOW, it

from routing.priority import priority, score
from routing.types import Priority, QueueView, Weights

Q = QueueView(id="support", answer_target_s=20)
W = Weights()


def parts(p: Priority) -> dict[str, float]:
    return {part.label: part.points for part in p.parts}


def test_the_score_is_the_sum_of_its_labelled_parts() -> None:
    p = priority(it("x", tier="vip", channel="voice", lifetime_value=38_000, waited=95), Q, W, NOW)
    assert parts(p) == {
        "VIP": 500,
        "value 38k": 200,  # 380 capped
        "voice": 50,
        "waited 95 s": 95,
        "SLA breached": 200,
    }
    assert p.score == pytest.approx(sum(parts(p).values()))
    assert p.score == pytest.approx(
        score(it("x", tier="vip", channel="voice", lifetime_value=38_000, waited=95), Q, W, NOW)
    )
    assert p.explain() == "VIP +500, value 38k +200, voice +50, waited 95 s +95, SLA breached +200"


@pytest.mark.parametrize(
    ("tier", "label", "points"),
    [
        ("vip", "VIP", 500),
        ("enterprise", "Enterprise", 300),
        ("household", "Household", 100),
        ("standard", "Standard", 0),
        ("martian", "Martian", 0),
    ],
)
def test_tier_points(tier: str, label: str, points: float) -> None:
    assert parts(priority(it("x", tier=tier), None, W, NOW))[label] == points


@pytest.mark.parametrize(
    ("value", "points"), [(0, 0), (5_000, 50), (19_999, 199.99), (1e9, 200), (-50, 0)]
)
def test_value_is_per_thousand_and_capped(value: float, points: float) -> None:
    p = priority(it("x", lifetime_value=value), None, W, NOW)
    value_part = next(part for part in p.parts if part.label.startswith("value"))
    assert value_part.points == pytest.approx(points)


@pytest.mark.parametrize(
    ("channel", "points"), [("voice", 50), ("chat", 30), ("sms", 10), ("email", 0)]
)
def test_channel_points(channel: str, points: float) -> None:
    assert parts(priority(it("x", channel=channel), None, W, NOW))[channel] == points


@pytest.mark.parametrize(
    ("waited", "label", "points"),
    [
        (0, "SLA due in 20 s", 200 * (1 - 20 / 30)),  # target < window: ramp already on
        (15, "SLA due in 5 s", 200 * (1 - 5 / 30)),
        (20, "SLA breached", 200),
        (500, "SLA breached", 200),
    ],
)
def test_sla_urgency_ramps_before_the_target(waited: float, label: str, points: float) -> None:
    assert parts(priority(it("x", waited=waited), Q, W, NOW))[label] == pytest.approx(points)


def test_sla_is_zero_outside_the_window() -> None:
    q = QueueView(id="slow", answer_target_s=3600)
    assert parts(priority(it("x", waited=60), q, W, NOW))["SLA due in 3540 s"] == 0


def test_no_queue_means_no_sla_part() -> None:
    assert not any("SLA" in p.label for p in priority(it("x"), None, W, NOW).parts)


def test_aging_is_linear_and_configurable() -> None:
    w = Weights(wait_per_second=2.5)
    assert parts(priority(it("x", waited=40), None, w, NOW))["waited 40 s"] == 100


def test_a_clock_behind_the_enqueue_time_counts_as_no_wait() -> None:
    assert parts(priority(it("x", waited=-10), None, W, NOW))["waited 0 s"] == 0
