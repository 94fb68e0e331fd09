"""Customer 360 over REST on SQLite and PostgreSQL: identities, search, value, merge, import,
privacy, consent, OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.app import create_app
from tests.support.clock import ManualClock
from tests.support.hubs import add_agent, hub_of, login, post_sms

pytestmark = pytest.mark.postgres


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(
    db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any], clock: ManualClock
) -> Any:
    c = await aiohttp_client(create_app(make_settings(database_url=db_url), clock=clock))
    await add_agent(hub_of(c), "sup", role="supervisor")
    await add_agent(hub_of(c), "root", role="admin")
    await add_agent(hub_of(c), "alice")
    return c


async def h(client: Any, user: str = "sup") -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(client, user)}"}


async def create(client: Any, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/customers", json=fields, headers=await h(client))
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def test_create_and_find_by_phone_in_any_format_email_name_and_tag(client: Any) -> None:
    c = await create(
        client,
        name="李小龙 Bruce",
        tags=["martial"],
        identities=[
            {"kind": "phone", "value": "+1 415 555 0100"},
            {"kind": "email", "value": "Bruce@Lee.example"},
        ],
    )
    headers = await h(client, "alice")
    for q in ("(415) 555-0100", "bruce@lee.example", "李小龙", "bruce"):
        resp = await client.get("/api/customers", params={"q": q}, headers=headers)
        assert [x["id"] for x in (await resp.json())["customers"]] == [c["id"]], q
    resp = await client.get("/api/customers", params={"tag": "martial"}, headers=headers)
    assert [x["id"] for x in (await resp.json())["customers"]] == [c["id"]]
    resp = await client.get("/api/customers", params={"q": "100%"}, headers=headers)
    assert (await resp.json())["customers"] == []


async def test_an_identity_of_another_customer_is_a_conflict(client: Any) -> None:
    await create(client, name="A", identities=[{"kind": "email", "value": "a@x.example"}])
    resp = await client.post(
        "/api/customers",
        json={"name": "B", "identities": [{"kind": "email", "value": "A@X.example"}]},
        headers=await h(client),
    )
    assert resp.status == 409


async def test_orders_drive_value_tier_and_reasons(client: Any, clock: ManualClock) -> None:
    c = await create(client, name="Rich")
    headers = await h(client)
    for amount in (60_000, 50_000):
        resp = await client.post(
            f"/api/customers/{c['id']}/orders", json={"amount": amount}, headers=headers
        )
        assert resp.status == 201
    view = await (await client.get(f"/api/customers/{c['id']}", headers=headers)).json()
    assert view["lifetime_value"] == 110_000 and view["tier"] == "vip"
    assert "lifetime value" in view["tier_reasons"][0]
    e = await create(client, name="Corp", kind="enterprise")
    assert e["tier"] == "enterprise" and e["tier_reasons"] == ["enterprise account"]


async def test_churn_risk_when_orders_stop(client: Any, clock: ManualClock) -> None:
    c = await create(client, name="Regular")
    for _ in range(4):
        headers = await h(client)  # the clock jumps past the token's lifetime
        await client.post(
            f"/api/customers/{c['id']}/orders",
            json={"amount": 10, "ordered_at": clock.now.isoformat()},
            headers=headers,
        )
        clock.advance(timedelta(days=30).total_seconds())
    clock.advance(timedelta(days=60).total_seconds())
    headers = await h(client)
    resp = await client.patch(f"/api/customers/{c['id']}", json={"language": "en"}, headers=headers)
    view = await resp.json()
    assert view["churn_risk"] is True and "no order for" in view["churn_reasons"][0]


async def test_merge_moves_history_and_unmerge_moves_it_back(client: Any) -> None:
    headers = await h(client)
    a = await create(
        client, name="Ann Smith", identities=[{"kind": "email", "value": "ann@x.example"}]
    )
    await post_sms(client, "SMm1", "+14155550177", "hello from my phone")
    search = await client.get("/api/customers", params={"q": "+14155550177"}, headers=headers)
    b = (await search.json())["customers"][0]
    resp = await client.post(
        f"/api/customers/{a['id']}/merge", json={"other_id": b["id"]}, headers=headers
    )
    assert resp.status == 200
    merge_id = (await resp.json())["merge_id"]
    view = await (await client.get(f"/api/customers/{a['id']}", headers=headers)).json()
    assert {i["value"] for i in view["identities"]} == {"ann@x.example", "+14155550177"}
    assert len(view["interactions"]) == 1
    again = await client.get("/api/customers", params={"q": "(415) 555-0177"}, headers=headers)
    assert [x["id"] for x in (await again.json())["customers"]] == [a["id"]]
    resp = await client.post(f"/api/merges/{merge_id}/undo", headers=headers)
    assert resp.status == 200
    view = await (await client.get(f"/api/customers/{a['id']}", headers=headers)).json()
    assert view["interactions"] == [] and len(view["identities"]) == 1
    assert (await client.post(f"/api/merges/{merge_id}/undo", headers=headers)).status == 409
    assert (
        await client.post(
            f"/api/customers/{a['id']}/merge",
            json={"other_id": b["id"]},
            headers=await h(client, "alice"),
        )
    ).status == 403


async def test_duplicates_are_suggested_never_merged_on_a_name(client: Any) -> None:
    a = await create(
        client, name="Jo Doe", identities=[{"kind": "email", "value": "jo@acme.example"}]
    )
    await create(
        client, name="Jo Doe", identities=[{"kind": "email", "value": "j.doe@acme.example"}]
    )
    await create(client, name="Jo Doe", identities=[{"kind": "email", "value": "jo@other.example"}])
    view = await (await client.get(f"/api/customers/{a['id']}", headers=await h(client))).json()
    assert len(view["duplicates"]) == 1
    assert "same email domain acme.example" in view["duplicates"][0]["reasons"]


async def test_csv_import_dry_run_reports_errors_per_line_then_imports(client: Any) -> None:
    csv_text = (
        "name,phone,email,kind,tags,order_amount,order_date\n"
        "Ada,+14155550001,ada@x.example,person,vip;beta,120,2026-01-05\n"
        "Bad Phone,not-a-phone,,person,,,\n"
        ",,,person,,,\n"
        "Ada again,(415) 555-0001,,person,,30,2026-02-01\n"
        "Kind,+14155550002,,alien,,,\n"
    )
    headers = {**await h(client), "Content-Type": "text/csv"}
    resp = await client.post("/api/customers/import?dry_run=1", data=csv_text, headers=headers)
    report = await resp.json()
    assert report["dry_run"] and report["rows"] == 5
    assert [e["line"] for e in report["errors"]] == [3, 4, 6]
    search = await client.get("/api/customers", params={"q": "Ada"}, headers=headers)
    assert (await search.json())["customers"] == []  # nothing stored by a dry run
    report = await (
        await client.post("/api/customers/import", data=csv_text, headers=headers)
    ).json()
    assert (report["created"], report["updated"], report["orders"]) == (1, 1, 2)
    search = await client.get("/api/customers", params={"q": "ada@x.example"}, headers=headers)
    (ada,) = (await search.json())["customers"]
    assert ada["lifetime_value"] == 150 and ada["tier"] == "vip" and "beta" in ada["tags"]


async def test_export_csv_neutralizes_formulas(client: Any) -> None:
    await create(client, name='=HYPERLINK("http://evil")')
    resp = await client.get("/api/customers/export.csv", headers=await h(client))
    text = await resp.text()
    assert resp.status == 200 and "'=HYPERLINK" in text


async def test_privacy_export_and_erase(client: Any) -> None:
    await post_sms(client, "SMp1", "+14155550188", "my secret address is 1 Main St")
    headers = await h(client)
    found = await client.get("/api/customers", params={"q": "+14155550188"}, headers=headers)
    cid = (await found.json())["customers"][0]["id"]
    export = await (await client.get(f"/api/customers/{cid}/export", headers=headers)).json()
    assert export["messages"][0]["body"] == "my secret address is 1 Main St"
    assert (await client.delete(f"/api/customers/{cid}", headers=headers)).status == 403
    assert (
        await client.delete(f"/api/customers/{cid}", headers=await h(client, "root"))
    ).status == 200
    export = await (await client.get(f"/api/customers/{cid}/export", headers=headers)).json()
    assert export["identities"] == [] and export["messages"][0]["body"] == "[erased]"


async def test_sms_stop_opts_out_and_replies_are_refused(client: Any) -> None:
    from hub.actions.handle_offer import accept_offer
    from hub.actions.route_interactions import route_interactions
    from hub.actions.send_reply import send_reply
    from hub.errors import Conflict

    hub = hub_of(client)
    bob = await add_agent(hub, "bob", available=True)
    await post_sms(client, "SMs1", "+14155550199", "help")
    await route_interactions(hub)
    state = await (await client.get("/api/agent/state", headers=await h(client, "bob"))).json()
    it = state["offers"][0]["interaction"]["id"]
    await accept_offer(hub, bob.id, it)
    await post_sms(client, "SMs2", "+14155550199", " stop ")
    with pytest.raises(Conflict):
        await send_reply(hub, bob.id, it, "are you there?")
    await post_sms(client, "SMs3", "+14155550199", "START")
    await send_reply(hub, bob.id, it, "welcome back")


async def test_notes_are_kept_with_author(client: Any) -> None:
    c = await create(client, name="Noted")
    resp = await client.post(
        f"/api/customers/{c['id']}/notes",
        json={"body": "Prefers mornings"},
        headers=await h(client, "alice"),
    )
    assert resp.status == 201
    view = await (await client.get(f"/api/customers/{c['id']}", headers=await h(client))).json()
    assert view["notes"][0]["body"] == "Prefers mornings" and view["notes"][0]["author"] == "alice"


async def test_bad_input_is_422(client: Any) -> None:
    headers = await h(client)
    for body in (
        {"kind": "alien"},
        {"tags": "x"},
        {"unknown": 1},
        {"consent": {"sms": "no"}},
        {"identities": [{"kind": "phone", "value": "nope"}]},
    ):
        resp = await client.post("/api/customers", json=body, headers=headers)
        assert resp.status == 422, body
    c = await create(client, name="X")
    resp = await client.post(
        f"/api/customers/{c['id']}/orders", json={"amount": "lots"}, headers=headers
    )
    assert resp.status == 422
    assert (await client.get("/api/customers/nope", headers=headers)).status == 404


async def test_openapi_matches_the_routes(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routes = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/")
        and r.method != "HEAD"
    }
    assert documented == routes


async def test_rfm_scores_after_an_import(client: Any) -> None:
    rows = ["name,email,order_amount,order_date"]
    for n in range(10):
        for k in range(n + 1):
            rows.append(f"C{n},c{n}@x.example,{(n + 1) * 10},2026-0{1 + k % 9}-0{1 + n % 9}")
    headers = {**await h(client), "Content-Type": "text/csv"}
    report = await (
        await client.post("/api/customers/import", data="\n".join(rows) + "\n", headers=headers)
    ).json()
    assert report["errors"] == []
    best = await client.get("/api/customers", params={"q": "c9@x.example"}, headers=headers)
    worst = await client.get("/api/customers", params={"q": "c0@x.example"}, headers=headers)
    assert (await best.json())["customers"][0]["rfm"]["f"] == 5
    assert (await best.json())["customers"][0]["rfm"]["m"] == 5
    assert (await worst.json())["customers"][0]["rfm"]["m"] == 1
