"""The supervisor board's figures, counted by the database (hub/board.py), on SQLite and
PostgreSQL: pinned by hand on a small day, and against `reference_board`, the row-by-row Python
the board used before (it read the whole day every 2 s), on random days."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.app import create_app
from hub.board import board, day_start
from hub.context import Hub
from hub.models import Agent, Customer, Interaction, Message, Queue
from routing.erlang import agents_needed
from tests.support.hubs import hub_of

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 23, 13, 30, 15, 250_000, tzinfo=UTC)
START = day_start(NOW)


@pytest.fixture
async def hub(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Hub:
    settings = make_settings(database_url=db_url, queues=[])
    return hub_of(await aiohttp_client(create_app(settings)))


def at_ms(hours: float) -> datetime:
    """START + `hours`, to the millisecond (the board's wait arithmetic is exact to it)."""
    return START + timedelta(milliseconds=round(hours * 3_600_000))


async def store(hub: Hub, *rows: Any) -> None:
    async with hub.store.transaction() as s:
        for row in rows:
            if isinstance(row, Interaction):
                s.add(Customer(id=row.customer_id, name="c"))
            s.add(row)


def interaction(n: int, enqueued_h: float, answered_h: float | None, **kw: Any) -> Interaction:
    values: dict[str, Any] = {
        "id": f"i{n}",
        "customer_id": f"c{n}",
        "channel": "sms",
        "queue_id": "support",
        "created_at": at_ms(enqueued_h),
        "enqueued_at": at_ms(enqueued_h),
        "assigned_at": at_ms(answered_h) if answered_h is not None else None,
        "state": "assigned" if answered_h is not None else "queued",
    }
    return Interaction(**(values | kw))


async def test_queue_depth_counts_who_is_still_waiting_at_each_hour_end(hub: Hub) -> None:
    now = START + timedelta(hours=3, minutes=30)
    await store(
        hub,
        Queue(id="support", answer_target_s=20.0),
        interaction(1, 0.5, 1.5),  # waiting across the end of hour 0 only
        interaction(2, 0.9, None),  # still waiting now
        interaction(3, 2.2, 2.2 + 20 / 3600),  # answered in exactly the target: within
        interaction(4, 1.2, None, direction="out"),  # call-back tasks are not queue depth
        interaction(5, -1.0, None),  # yesterday's: not today's figures, but still waiting
    )
    async with hub.store.session() as s:
        got = await board(s, now)
    hourly = got["hourly"]
    assert [h["depth"] for h in hourly[:5]] == [2, 1, 1, 1, None]
    assert [h["arrivals"] for h in hourly[:3]] == [2, 0, 1]
    assert hourly[2]["service_level"] == 1.0 and hourly[0]["service_level"] == 0.0
    (support,) = got["queues"]
    assert support["waiting"] == 3 and support["longest_wait_s"] == 4.5 * 3600
    assert support["handled"] == 2 and support["service_level"] == 0.5
    assert support["asa_s"] == round((3600 + 20) / 2, 1)
    assert [w["id"] for w in got["waiting"]] == ["i5", "i2", "i4"]  # longest first
    assert got["waiting"][0]["waited_s"] == 16200


async def test_a_customer_waits_for_a_reply_from_their_first_unanswered_message(hub: Hub) -> None:
    """Per agent: conversations whose last word is the customer's, and the oldest such word's age;
    the floor's messages per channel, today and in the last 15 minutes."""
    now = START + timedelta(hours=13)

    def msg(
        n: int, interaction_id: str, direction: str, minutes_ago: float, ch: str, **kw: Any
    ) -> Message:
        created = now - timedelta(minutes=minutes_ago)
        return Message(
            id=f"m{n}",
            interaction_id=interaction_id,
            channel=ch,
            direction=direction,
            created_at=created,
            **kw,
        )

    await store(
        hub,
        Agent(id="a1", username="ann", status="available"),
        Agent(id="a2", username="bob", status="available"),
        interaction(1, 12.0, 12.0, channel="chat", assigned_agent_id="a1"),
        interaction(2, 12.0, 12.0, channel="email", assigned_agent_id="a1"),
        interaction(3, 12.0, 12.0, channel="voice", assigned_agent_id="a2"),
        interaction(4, 12.0, 12.0, channel="sms", assigned_agent_id="a2", state="closed"),
    )
    await store(
        hub,
        # i1: asked, answered, then asked twice more: waiting since the first of the two.
        msg(1, "i1", "in", 30, "chat"),
        msg(2, "i1", "out", 20, "chat"),
        msg(3, "i1", "in", 10, "chat"),
        msg(4, "i1", "in", 5, "chat"),
        msg(10, "i1", "note", 1, "chat", status="internal"),  # a colleague's note: no reply
        # i2: answered, asked again, and the answer failed to go out: waiting since the ask.
        msg(5, "i2", "in", 60, "email"),
        msg(6, "i2", "out", 50, "email"),
        msg(11, "i2", "in", 45, "email"),
        msg(12, "i2", "out", 40, "email", status="failed"),
        # A call's voicemail and a closed conversation's last word wait for no one.
        msg(7, "i3", "in", 40, "voice"),
        msg(8, "i4", "in", 40, "sms"),
        msg(9, "i4", "in", 24 * 60, "sms"),  # yesterday's: not today's traffic
    )
    async with hub.store.session() as s:
        got = await board(s, now)
    ann, bob = got["agents"]
    assert (ann["awaiting_reply"], ann["unanswered_s"]) == (2, 2700)
    assert (bob["awaiting_reply"], bob["unanswered_s"]) == (0, None)
    assert got["traffic"] == [
        {"channel": "chat", "in_today": 3, "out_today": 1, "in_recent": 2, "out_recent": 0},
        {"channel": "email", "in_today": 2, "out_today": 2, "in_recent": 0, "out_recent": 0},
        {"channel": "sms", "in_today": 1, "out_today": 0, "in_recent": 0, "out_recent": 0},
        {"channel": "voice", "in_today": 1, "out_today": 0, "in_recent": 0, "out_recent": 0},
    ]


Day = tuple[list[Queue], list[Agent], list[Interaction], list[Message]]


def random_day(rng: random.Random) -> Day:
    queues = [
        Queue(id="support", answer_target_s=20.0, avg_handle_s=240.0),
        Queue(id="sales", name="Sales", answer_target_s=30.0, service_level_pct=90.0),
    ]
    agents = [
        Agent(
            id=f"a{n}",
            username=f"agent{n}",
            display_name=rng.choice(["", f"Agent {n}"]),
            status=rng.choice(["available", "away", "offline"]),
            queues=rng.sample(["support", "sales"], rng.randint(0, 2)),
            status_since=at_ms(rng.uniform(0, 13)),
        )
        for n in range(6)
    ]
    rows = []
    for n in range(rng.randint(40, 120)):
        enqueued = rng.uniform(-6, 13.5)  # some yesterday
        created = enqueued - rng.choice([0.0, rng.uniform(0, 0.01)])
        state = rng.choice(["queued", "offered", "assigned", "closed", "abandoned", "ringing"])
        answered = None
        if state in ("assigned", "closed") or (state == "abandoned" and rng.random() < 0.2):
            # Around the targets too: 20 and 30 s exactly, and a millisecond either side.
            wait_s = rng.choice([20.0, 30.0, 19.999, 20.001, 29.999, rng.uniform(0, 120)])
            answered = enqueued + wait_s / 3600
        rows.append(
            Interaction(
                id=f"r{n:03d}",
                customer_id=f"rc{n}",
                channel=rng.choice(["sms", "chat", "voice", "email"]),
                direction=rng.choice(["in", "in", "in", "out"]),
                queue_id=rng.choice(["support", "sales", "gone"]),
                state=state,
                created_at=at_ms(created),
                enqueued_at=at_ms(enqueued),
                assigned_at=at_ms(answered) if answered is not None else None,
                closed_at=at_ms(enqueued + rng.uniform(0, 2))
                if state in ("closed", "abandoned")
                else None,
                assigned_agent_id=rng.choice([a.id for a in agents])
                if answered is not None and rng.random() < 0.9
                else None,
                priority=rng.uniform(0, 100),
                priority_explain=f"why {n}",
            )
        )
    messages = [
        Message(
            id=f"m{n:03d}-{k}",
            interaction_id=i.id,
            channel=i.channel,
            direction=rng.choice(["in", "in", "out", "out", "note"]),
            status=rng.choice(["received", "sent", "failed"]),
            # Some at the same millisecond as another: a reply then does not answer it.
            created_at=at_ms(rng.choice([rng.uniform(-2, 13.5), 13.0, 13.4])),
        )
        for n, i in enumerate(rows)
        for k in range(rng.randint(0, 4))
    ]
    return queues, agents, rows, messages


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_database_counts_what_the_row_by_row_board_counted(hub: Hub, seed: int) -> None:
    queues, agents, rows, messages = random_day(random.Random(seed))
    expected = reference_board(queues, agents, rows, messages, NOW)
    await store(hub, *queues, *agents, *rows)
    await store(hub, *messages)
    async with hub.store.session() as s:
        got = await board(s, NOW)
    assert got["hourly"] == expected["hourly"]
    assert got["agents"] == expected["agents"]
    assert got["waiting"] == expected["waiting"]
    assert got["traffic"] == expected["traffic"]
    for mine, theirs in zip(got["queues"], expected["queues"], strict=True):
        # The average wait is a sum of float seconds in the database: equal to 0.1 s.
        assert (mine["asa_s"] is None) == (theirs["asa_s"] is None)
        assert abs((mine.pop("asa_s") or 0) - (theirs.pop("asa_s") or 0)) <= 0.1
        assert mine == theirs


def reference_board(
    queues: Sequence[Queue],
    agents: Sequence[Agent],
    rows: Sequence[Interaction],
    messages: Sequence[Message],
    now: datetime,
) -> dict[str, Any]:
    """The board as it was computed before the database counted it: every interaction of the
    day read into Python (hub/board.py up to 8ed7137), the same figures by other means."""
    start = day_start(now)
    today = [i for i in rows if i.created_at >= start]
    waiting = sorted(
        (i for i in rows if i.state in ("queued", "offered")), key=lambda i: (i.enqueued_at, i.id)
    )
    handled = Counter(i.assigned_agent_id for i in today if i.assigned_agent_id)
    work: dict[str, list[dict[str, str]]] = {a.id: [] for a in agents}
    for i in sorted(rows, key=lambda i: i.id):
        if i.state == "assigned" and i.assigned_agent_id:
            work[i.assigned_agent_id].append({"id": i.id, "channel": i.channel})
    targets = {q.id: q.answer_target_s for q in queues}
    # Awaiting a reply: inbound messages after the conversation's last outbound one.
    unanswered: dict[str, list[Message]] = {a.id: [] for a in agents}
    for i in rows:
        if i.state != "assigned" or i.channel == "voice" or not i.assigned_agent_id:
            continue
        mine = [m for m in messages if m.interaction_id == i.id]
        outs = [m.created_at for m in mine if m.direction == "out" and m.status != "failed"]
        unanswered[i.assigned_agent_id] += [
            m for m in mine if m.direction == "in" and (not outs or m.created_at > max(outs))
        ]
    traffic: dict[str, dict[str, Any]] = {}
    for m in messages:
        if m.created_at < start or m.direction == "note":
            continue
        t = traffic.setdefault(
            m.channel,
            {"channel": m.channel, "in_today": 0, "out_today": 0, "in_recent": 0, "out_recent": 0},
        )
        t[f"{m.direction}_today"] += 1
        t[f"{m.direction}_recent"] += m.created_at >= now - timedelta(minutes=15)

    def queue(q: Queue) -> dict[str, Any]:
        mine = [i for i in today if i.queue_id == q.id and i.direction == "in"]
        answered = [i for i in mine if i.assigned_at is not None]
        abandoned = [i for i in mine if i.state == "abandoned"]
        waits = [(i.assigned_at - i.enqueued_at).total_seconds() for i in answered]  # type: ignore[operator]
        within = sum(w <= q.answer_target_s for w in waits)
        offered = len(answered) + len(abandoned)
        queued = [i for i in waiting if i.queue_id == q.id]
        recent = [i for i in mine if i.created_at >= now - timedelta(minutes=30)]
        rate = len(recent) / 1800
        available = sum(1 for a in agents if a.status == "available" and q.id in a.queues)
        return {
            "id": q.id,
            "name": q.name or q.id,
            "waiting": len(queued),
            "longest_wait_s": round(
                max(((now - i.enqueued_at).total_seconds() for i in queued), default=0.0), 1
            ),
            "service_level": round(within / offered, 3) if offered else None,
            "target": f"{q.service_level_pct:.0f}% in {q.answer_target_s:.0f} s",
            "asa_s": round(sum(waits) / len(waits), 1) if waits else None,
            "handled": len(answered),
            "abandoned": len(abandoned),
            "agents_available": available,
            "agents_needed": agents_needed(
                rate, q.avg_handle_s, q.answer_target_s, q.service_level_pct
            )
            if rate > 0
            else 0,
        }

    arrivals: Counter[int] = Counter()
    answered: Counter[int] = Counter()
    within: Counter[int] = Counter()
    for i in today:
        if i.direction != "in":
            continue
        hour = int((i.created_at - start).total_seconds() // 3600)
        arrivals[hour] += 1
        if i.assigned_at is not None:
            answered[hour] += 1
            wait = (i.assigned_at - i.enqueued_at).total_seconds()
            within[hour] += wait <= targets.get(i.queue_id, 20.0)
    spans = [
        (i.enqueued_at, i.assigned_at or i.closed_at)
        for i in today
        if i.direction == "in" and i.state != "ringing"
    ]
    hourly = []
    for h in range(24):
        end = min(start + timedelta(hours=h + 1), now)
        depth = sum(1 for began, ended in spans if began <= end and (ended is None or end < ended))
        hourly.append(
            {
                "hour": h,
                "arrivals": arrivals[h],
                "service_level": round(within[h] / answered[h], 3) if answered[h] else None,
                "depth": depth if start + timedelta(hours=h) <= now else None,
            }
        )
    return {
        "queues": [queue(q) for q in sorted(queues, key=lambda q: q.id)],
        "agents": [
            {
                "id": a.id,
                "name": a.display_name or a.username,
                "status": a.status,
                "reason": a.status_reason,
                "in_state_s": round((now - a.status_since).total_seconds()),
                "work": work[a.id],
                "handled_today": handled[a.id],
                "awaiting_reply": len({m.interaction_id for m in unanswered[a.id]}),
                "unanswered_s": round(
                    (now - min(m.created_at for m in unanswered[a.id])).total_seconds()
                )
                if unanswered[a.id]
                else None,
            }
            for a in sorted(agents, key=lambda a: a.username)
        ],
        "traffic": [traffic[c] for c in sorted(traffic)],
        "hourly": hourly,
        "waiting": [
            {
                "id": i.id,
                "queue_id": i.queue_id,
                "channel": i.channel,
                "state": i.state,
                "waited_s": round((now - i.enqueued_at).total_seconds()),
                "priority": round(i.priority, 1),
                "why": i.priority_explain,
            }
            for i in waiting[:50]
        ],
    }


async def test_the_days_counts_read_only_the_day(tmp_path: Any) -> None:
    """Every push tick counts the day's interactions: through the created_at index, never a
    scan of every interaction ever stored (SQLite's query plan)."""
    from hub.board import AWAITING_REPLY, DEPTHS, HANDLED, HOURS, QUEUE_DAY
    from hub.store import Store

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await store.migrate()
    try:
        async with store.engine.connect() as conn:
            for query in (QUEUE_DAY, HOURS, DEPTHS, HANDLED):
                compiled = query.compile(conn.sync_engine)
                values = (None,) * len(compiled.positiontup or [])  # a plan, not a result
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
                steps = " | ".join(str(row[-1]) for row in plan.all())
                assert "ix_interactions_created_at" in steps, steps
                assert "SCAN interactions" not in steps, steps
            # Who awaits a reply: the live conversations, then one index seek per inbound line
            # for a reply at or after it; never a scan of every message stored.
            compiled = AWAITING_REPLY.compile(conn.sync_engine)
            values = (None,) * len(compiled.positiontup or [])
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
            steps = " | ".join(str(row[-1]) for row in plan.all())
            assert "SEARCH interactions USING INDEX ix_interactions_state_closed_at" in steps, steps
            assert steps.count("ix_messages_interaction_direction_created") == 2, steps
            assert "SCAN messages" not in steps and "SCAN reply" not in steps, steps
    finally:
        await store.close()


async def test_the_traffic_tally_counts_the_settled_day_once(hub: Hub) -> None:
    """hub/board_traffic.py: a tally counts the settled part of the day once and then only what
    came after; what commits later than SETTLE after its timestamp shows at the next recount."""
    from hub.board_traffic import RECOUNT, TrafficTally

    t0 = START + timedelta(hours=10)
    await store(hub, interaction(1, 9.0, 9.0, channel="chat"))

    def line(n: int, at: datetime, direction: str = "in") -> Message:
        return Message(
            id=f"t{n}", interaction_id="i1", channel="chat", direction=direction, created_at=at
        )

    async def read(tally: TrafficTally, now: datetime) -> tuple[int, int, int]:
        async with hub.store.session() as s:
            (chat,) = await tally.read(s, day_start(now), now)
        return chat["in_today"], chat["out_today"], chat["in_recent"]

    await store(
        hub,
        line(1, START - timedelta(minutes=1)),  # yesterday
        line(2, START + timedelta(hours=2)),
        line(3, t0 - timedelta(minutes=16)),
        line(4, t0 - timedelta(minutes=5), "out"),
        line(5, t0 - timedelta(minutes=1)),
    )
    tally = TrafficTally()
    assert await read(tally, t0) == (3, 1, 1)
    assert tally.settled_until == t0 - timedelta(minutes=17)
    await store(
        hub,
        line(6, t0 + timedelta(seconds=30)),  # live
        line(7, t0 - timedelta(hours=1)),  # committed an hour late: settled already
    )
    t1 = t0 + timedelta(minutes=1)
    assert await read(tally, t1) == (4, 1, 2)  # line 3 has left the last 15 minutes
    assert await read(TrafficTally(), t1) == (5, 1, 2)  # a fresh tally counts the whole day
    assert await read(tally, t0 + RECOUNT) == (5, 1, 2)
    # Two reads at once (a supervisor connecting during a push tick) count the day once.
    racing = TrafficTally()

    async def read_off_loop(now: datetime) -> tuple[int, int, int]:
        async with hub.store.report_session() as s:  # statements that really yield
            (chat,) = await racing.read(s, day_start(now), now)
        return chat["in_today"], chat["out_today"], chat["in_recent"]

    assert await asyncio.gather(read_off_loop(t1), read_off_loop(t1)) == [(5, 1, 2)] * 2
    assert await read(racing, t1 + timedelta(seconds=2)) == (5, 1, 2)
    # A new day starts from zero; a clock that went back starts over too.
    async with hub.store.session() as s:
        assert await tally.read(s, START + timedelta(days=1), START + timedelta(days=1)) == []
    assert await read(tally, t1) == (5, 1, 2)
