"""Business hours: is a queue open at `now` (epoch seconds) in its own time zone?"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from routing.types import QueueView


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_open(queue: QueueView, now: float) -> bool:
    """Open when no hours are configured, or `now` falls in one of the weekday windows."""
    if not queue.hours:
        return True
    local = datetime.fromtimestamp(now, _zone(queue.timezone))
    minute = local.hour * 60 + local.minute
    return any(
        w.weekday == local.weekday() and w.start_minute <= minute < w.end_minute
        for w in queue.hours
    )
