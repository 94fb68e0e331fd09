"""Whether anyone can answer a queue (a new chat taken as a message, a call sent to voicemail)
is one statement that asks the database which available agent lists the queue: the same answer
as reading every agent's list, on both databases."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from hub.app import create_app
from hub.context import Hub
from hub.models import Agent, Queue
from hub.routing_snapshot import queue_view
from hub.staffing import someone_can_answer
from routing.hours import is_open
from tests.support.clock import ManualClock
from tests.support.hubs import hub_of

pytestmark = pytest.mark.postgres

MONDAY_9 = 540  # ManualClock starts on Monday 2026-11-23 at 09:00 UTC
OPEN = [{"weekday": 0, "start_minute": MONDAY_9 - 60, "end_minute": MONDAY_9 + 60}]
CLOSED = [{"weekday": 0, "start_minute": MONDAY_9 + 60, "end_minute": MONDAY_9 + 120}]


@pytest.fixture
async def hub(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Hub:
    app = create_app(make_settings(database_url=db_url), clock=ManualClock())
    return hub_of(await aiohttp_client(app))


async def floor(
    hub: Hub, queues: dict[str, list[Any]], agents: list[tuple[str, list[str]]]
) -> None:
    """Replace the hub's queues and agents: queue id -> hours, (status, queue ids) per agent."""
    async with hub.store.transaction() as s:
        for model in (Agent, Queue):
            for row in (await s.exec(select(model))).all():
                await s.delete(row)
        await s.flush()
        s.add_all(Queue(id=q, hours=hours) for q, hours in queues.items())
        s.add_all(
            Agent(id=f"a{n}", username=f"a{n}", status=status, queues=listed)
            for n, (status, listed) in enumerate(agents)
        )


async def reference(hub: Hub, queue_id: str) -> bool:
    """The answer read row by row, as the hub did before it asked the database."""
    async with hub.store.session() as s:
        queue = await s.get(Queue, queue_id)
        agents = (await s.exec(select(Agent))).all()
    if queue is None or not is_open(queue_view(queue), hub.now().timestamp()):
        return False
    return any(a.status == "available" and queue_id in a.queues for a in agents)


@pytest.mark.parametrize(
    ("agents", "hours", "expected"),
    [
        ([], [], False),  # nobody at all
        ([("away", ["q"]), ("offline", ["q"])], [], False),  # serving it, but not available
        ([("available", ["q-2", "qq", "x"])], [], False),  # names alike are not the queue
        ([("available", [])], [], False),
        ([("available", ["x", "q"])], [], True),
        ([("away", ["q"]), ("available", ["q"])], [], True),
        ([("available", ["q"])], OPEN, True),
        ([("available", ["q"])], CLOSED, False),  # staffed but out of hours
    ],
)
async def test_someone_can_answer(
    hub: Hub, agents: list[tuple[str, list[str]]], hours: list[Any], expected: bool
) -> None:
    await floor(hub, {"q": hours, "q-2": [], "x": []}, agents)
    assert await someone_can_answer(hub, "q") is expected
    assert await reference(hub, "q") is expected


async def test_a_queue_that_does_not_exist_has_nobody(hub: Hub) -> None:
    await floor(hub, {"q": []}, [("available", ["gone", "q"])])
    assert await someone_can_answer(hub, "gone") is False


async def test_random_floors_answer_as_the_row_by_row_reading(hub: Hub) -> None:
    rng = random.Random(7)
    names = ["q", "q-2", "sales", "vip", "x"]
    for _ in range(25):
        queues = {q: rng.choice([[], [], OPEN, CLOSED]) for q in names if rng.random() < 0.8}
        agents = [
            (
                rng.choice(["available", "available", "away", "offline"]),
                rng.sample(names, rng.randint(0, 3)),
            )
            for _ in range(rng.randint(0, 6))
        ]
        await floor(hub, queues, agents)
        for q in names:
            assert await someone_can_answer(hub, q) == await reference(hub, q), (q, queues, agents)
