"""The board's hourly series: arrivals, service level and queue depth at each hour's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.board import _hourly
from hub.models import Interaction

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def it(enqueued_h: float, answered_h: float | None, **kw: object) -> Interaction:
    enq = START + timedelta(hours=enqueued_h)
    return Interaction(
        customer_id="c",
        channel="sms",
        queue_id="support",
        created_at=enq,
        enqueued_at=enq,
        assigned_at=START + timedelta(hours=answered_h) if answered_h is not None else None,
        **kw,
    )


def test_queue_depth_counts_who_is_still_waiting_at_each_hour_end() -> None:
    now = START + timedelta(hours=3, minutes=30)
    today = [
        it(0.5, 1.5),  # waiting across the end of hour 0 only
        it(0.9, None),  # still waiting now
        it(2.2, 2.2 + 10 / 3600),  # answered in 10 s: never queue depth at an hour end
        it(1.2, None, direction="out"),  # call-back tasks are not queue depth
    ]
    hourly = _hourly(today, {"support": 20.0}, START, now)
    assert [h["depth"] for h in hourly[:5]] == [2, 1, 1, 1, None]
    assert [h["arrivals"] for h in hourly[:3]] == [2, 0, 1]
    assert hourly[2]["service_level"] == 1.0 and hourly[0]["service_level"] == 0.0
