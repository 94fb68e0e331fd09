"""B2 reports the hub's collector pauses in its timed phase from the hub's own histogram."""

from __future__ import annotations

from prometheus_client import generate_latest

from bench.fanout import _pauses, parse_pauses, pause_figures
from hub.metrics import Metrics


def read(metrics: Metrics) -> dict[str, float]:
    return parse_pauses(generate_latest(metrics.registry).decode())


def test_pauses_between_two_reads_of_the_hubs_histogram() -> None:
    metrics = Metrics()
    metrics.gc_pause.labels("2").observe(0.2)  # before the window: not counted
    before = read(metrics)
    metrics.gc_pause.labels("0").observe(0.004)
    metrics.gc_pause.labels("0").observe(0.07)
    metrics.gc_pause.labels("1").observe(0.002)
    figures = pause_figures(before, read(metrics))
    assert figures["count"] == 3
    assert abs(figures["sum_s"] - 0.076) < 1e-9
    assert figures["longest_le_s"] == 0.1  # 70 ms lies in the (50 ms, 100 ms] bucket
    assert _pauses(figures) == "GC 3 pauses, 76 ms in all (longest <= 100 ms)"


def test_no_pause_and_a_pause_beyond_the_last_bound() -> None:
    metrics = Metrics()
    before = read(metrics)
    assert _pauses(pause_figures(before, read(metrics))) == "no GC pause"
    metrics.gc_pause.labels("2").observe(3.0)
    figures = pause_figures(before, read(metrics))
    assert figures["longest_le_s"] == float("inf")
    assert _pauses(figures) == "GC 1 pause, 3000 ms in all (longest > 1 s)"
