"""The collector tuning `python -m hub serve` applies, and the pause recorder behind
`crmhub_gc_pause_seconds` (hub/gc_tuning.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Histogram
from pydantic import ValidationError

from hub import gc_tuning
from hub.settings import Settings


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_tune_freezes_what_startup_built_and_sets_the_thresholds() -> None:
    built_at_startup = [object() for _ in range(3)], {"kept": [1, 2]}
    gc_tuning.tune((12_345, 7, 3))
    assert gc.get_threshold() == (12_345, 7, 3)
    assert gc.get_freeze_count() > 0
    collected_from = {id(o) for o in gc.get_objects()}  # the frozen generation is not in it
    assert all(gc.is_tracked(o) and id(o) not in collected_from for o in built_at_startup)


def test_the_default_thresholds_and_their_bounds() -> None:
    assert Settings().gc_thresholds == gc_tuning.DEFAULT_THRESHOLDS == (50_000, 20, 10)
    assert Settings(gc_thresholds=(1_000, 5, 5)).gc_thresholds == (1_000, 5, 5)
    for bad in [(0, 10, 10), (99, 10, 10), (700, 0, 10), (700, 10, 0)]:
        with pytest.raises(ValidationError):
            Settings(gc_thresholds=bad)


def test_the_recorder_observes_each_collection_until_removed() -> None:
    registry = CollectorRegistry()
    recorder = gc_tuning.PauseRecorder(Histogram("pauses", "", ["generation"], registry=registry))

    def count(generation: str) -> float:
        return registry.get_sample_value("pauses_count", {"generation": generation}) or 0.0

    recorder.install()
    recorder.install()  # twice is once
    try:
        gc.collect()
        gc.collect(0)
    finally:
        recorder.remove()
    assert count("2") == 1 and count("0") >= 1
    gc.collect()
    assert count("2") == 1
