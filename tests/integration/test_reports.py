"""GET /api/reports: figures per day, queue and agent; CSV export safe for spreadsheets and
audit-logged; supervisors and admins only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from hub.app import create_app
from hub.models import AuditLog, Customer, Interaction, Offer
from tests.support.clock import ManualClock
from tests.support.hubs import add_agent, hub_of, login

pytestmark = pytest.mark.postgres
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def client(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(
        database_url=db_url,
        queues=[
            {"id": "support", "name": "Support", "answer_target_s": 20},
            {"id": "billing", "name": '=HYPERLINK("http://evil")', "answer_target_s": 20},
        ],
    )
    clock = ManualClock(NOON + timedelta(days=3))
    return await aiohttp_client(create_app(settings, clock=clock))


async def seed(client: Any) -> dict[str, str]:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice", display_name="Alice")
    await add_agent(hub, "sam", role="supervisor")

    def it(queue: str, waited: float | None, handled: float | None, **kw: Any) -> Interaction:
        assigned = NOON + timedelta(seconds=waited) if waited is not None else None
        closed = assigned + timedelta(seconds=handled) if assigned and handled else None
        return Interaction(
            customer_id=customer.id,
            channel=kw.pop("channel", "sms"),
            queue_id=queue,
            created_at=NOON,
            enqueued_at=NOON,
            assigned_at=assigned,
            closed_at=closed,
            assigned_agent_id=alice.id if assigned else None,
            state=kw.pop("state", "closed"),
            **kw,
        )

    async with hub.store.transaction() as session:
        customer = Customer(name="C")
        session.add(customer)
        await session.flush()
        rows = [
            it("support", 10, 100),  # answered within target
            it("billing", 60, 200),  # answered late
            it("support", None, None, state="abandoned"),
            it("support", 5, 60, channel="chat", meta={"csat": 4}),
            it("support", 0, 30, channel="voice", direction="out"),  # outbound: not "offered"
        ]
        session.add_all(rows)
        await session.flush()
        for row in rows[:2]:
            session.add(
                Offer(
                    interaction_id=row.id,
                    agent_id=alice.id,
                    offered_at=NOON,
                    expires_at=NOON + timedelta(seconds=20),
                )
            )
    return {"alice": alice.id}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_figures_per_day_queue_and_agent(client: Any) -> None:
    ids = await seed(client)
    sam = auth(await login(client, "sam"))
    url = "/api/reports?from=2026-11-20&to=2026-11-20"

    day = await (await client.get(url + "&by=day", headers=sam)).json()
    assert day["rows"] == [
        {
            "key": "2026-11-20",
            "label": "2026-11-20",
            "offered": 4,
            "handled": 4,
            "abandoned": 1,
            "service_level": 0.5,  # 2 of (3 answered inbound + 1 abandoned) within 20 s
            "asa_s": 25.0,
            "aht_s": 97.5,
            "csat_avg": 4.0,
            "csat_count": 1,
        }
    ]
    queues = {
        r["key"]: r
        for r in (await (await client.get(url + "&by=queue", headers=sam)).json())["rows"]
    }
    assert queues["billing"]["service_level"] == 0.0 and queues["billing"]["asa_s"] == 60.0
    assert queues["support"]["offered"] == 3 and queues["support"]["abandoned"] == 1
    agents = (await (await client.get(url + "&by=agent", headers=sam)).json())["rows"]
    assert [(r["key"], r["label"], r["offered"], r["handled"]) for r in agents] == [
        (ids["alice"], "Alice", 2, 4)
    ]
    # Another range holds nothing; the default range is the last 7 days up to today.
    empty = await (
        await client.get("/api/reports?from=2026-11-21&to=2026-11-22", headers=sam)
    ).json()
    assert empty["rows"] == []
    default = await (await client.get("/api/reports", headers=sam)).json()
    assert (default["from"], default["to"]) == ("2026-11-17", "2026-11-23")


async def test_csv_export_is_spreadsheet_safe_and_audited(client: Any) -> None:
    await seed(client)
    sam = auth(await login(client, "sam"))
    resp = await client.get(
        "/api/reports?from=2026-11-20&to=2026-11-20&by=queue&format=csv", headers=sam
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0][:4] == ["key", "label", "offered", "handled"]
    labels = {r[0]: r[1] for r in rows[1:]}
    assert labels["billing"] == '\'=HYPERLINK("http://evil")'
    async with hub_of(client).store.session() as session:
        audit = (
            await session.exec(select(AuditLog).where(AuditLog.action == "report.export"))
        ).all()
    assert [(a.actor, a.target) for a in audit] == [("sam", "queue:2026-11-20..2026-11-20")]


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "from=2026-11-22&to=2026-11-20",
        "from=2025-01-01&to=2026-11-20",
        "by=customer",
    ],
)
async def test_bad_reports_are_422(client: Any, query: str) -> None:
    await seed(client)
    resp = await client.get(f"/api/reports?{query}", headers=auth(await login(client, "sam")))
    assert resp.status == 422


async def test_reports_are_for_supervisors(client: Any) -> None:
    await seed(client)
    assert (await client.get("/api/reports")).status == 401
    alice = auth(await login(client, "alice"))
    assert (await client.get("/api/reports", headers=alice)).status == 403
    assert (await client.get("/api/reports?format=csv", headers=alice)).status == 403
