"""`serve` runs on uvloop where it is installed (B2's delivery tail, docs/performance.md), on
asyncio when configured so."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from hub.event_loop import event_loop_of, loop_factory
from hub.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("uvloop") is None, reason="uvloop installs everywhere but Windows"
)


@pytest.mark.parametrize(
    ("configured", "expected"), [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")]
)
def test_the_configured_loop_is_the_one_made(configured: str, expected: str) -> None:
    settings = Settings(event_loop=configured)  # type: ignore[arg-type]
    assert event_loop_of(settings) == expected
    loop = loop_factory(settings)()
    try:
        assert type(loop).__module__.split(".")[0] == expected
    finally:
        loop.close()


def test_the_default_is_auto() -> None:
    assert Settings().event_loop == "auto"


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    settings = Settings(event_loop="auto")
    assert event_loop_of(settings) == "asyncio"
    loop = loop_factory(settings)()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop)
    finally:
        loop.close()
