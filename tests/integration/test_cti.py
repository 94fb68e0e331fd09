"""Generic CTI against a running hub, driven by scripts/cti_pbx_sim.py like a real PBX."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from channels.cti import cti_signature
from hub.app import create_app
from hub.models import Agent, Interaction
from scripts.cti_pbx_sim import answered_call, event, missed_call, post
from tests.support.agent_client import AgentClient
from tests.support.hubs import add_agent, hub_of, login

pytestmark = pytest.mark.postgres
TOKEN = "cti-secret-token"


@pytest.fixture
async def client(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(
        database_url=db_url,
        cti_token=TOKEN,
        run_background=True,
        cti={"blocked_numbers": ["+49 30 666666"]},
        default_region="DE",
    )
    return await aiohttp_client(create_app(settings))


def url(client: Any, token: str = TOKEN) -> str:
    return str(client.make_url(f"/webhooks/cti/{token}"))


async def calls(client: Any) -> list[Interaction]:
    async with hub_of(client).store.session() as session:
        return list((await session.exec(select(Interaction))).all())


async def test_answered_call_pops_binds_and_logs(client: Any) -> None:
    hub = hub_of(client)
    alice = await add_agent(hub, "alice")
    await add_agent(hub, "bob")
    async with hub.store.transaction() as session:
        row = await session.get(Agent, alice.id)
        assert row is not None
        row.phone = "+49 30 1111"
        session.add(row)
    console = AgentClient()
    await console.connect(str(client.make_url("/")), await login(client, "alice"))
    try:
        async with aiohttp.ClientSession() as http:
            results = await answered_call(
                http, url(client), "030 123456", ["alice"], answering="+49301111"
            )
        assert [r for r in results] == [(200, {}), (200, {}), (200, {})]
        ringing = await console.next("call.ringing")
        assert ringing["customer"]["identities"][0]["value"] == "+4930123456"
        assigned = await console.next("interaction.assigned")
        assert assigned["interaction"]["channel"] == "voice"
    finally:
        await console.close()
    (it,) = await calls(client)
    assert it.state == "closed" and it.assigned_agent_id == alice.id
    assert it.meta["talk_s"] >= 0 and it.meta["cause"] == "normalClearing"
    headers = {"Authorization": f"Bearer {await login(client, 'alice')}"}
    log = await (await client.get("/api/calls", headers=headers)).json()
    assert log["calls"][0]["agent_id"] == alice.id and log["calls"][0]["missed"] is False


async def test_missed_blocked_replayed_and_out_of_order(client: Any) -> None:
    async with aiohttp.ClientSession() as http:
        missed = await missed_call(http, url(client), "+4930222222", [])
        assert missed == [(200, {}), (200, {})]
        blocked = await post(
            http, url(client), event("newCall", "c-b", "030 666666", "+4930999", [])
        )
        assert blocked == (200, {"action": "reject", "reason": "busy"})
        form = event("newCall", "c-r", "+4930333333", "+4930999", [])
        assert await post(http, url(client), form) == (200, {})
        assert await post(http, url(client), form) == (200, {})  # replay
        early = event("hangup", "c-early", "+4930444444", "+4930999", [], cause="busy")
        assert await post(http, url(client), early) == (200, {})  # hangup before newCall
    rows = {it.provider_ref: it for it in await calls(client)}
    assert len(rows) == 3 and {"cti:c-r", "cti:c-early"} <= set(rows)  # the blocked one: none
    (missed_row,) = [it for ref, it in rows.items() if ref not in ("cti:c-r", "cti:c-early")]
    assert missed_row.state == "abandoned" and missed_row.meta["cause"] == "cancel"
    assert rows["cti:c-early"].state == "abandoned" and rows["cti:c-early"].meta["missed"]
    assert rows["cti:c-r"].meta["cti_events"] == ["newCall"]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"event": "dance", "direction": "in", "callId": "x"}, 422),
        ({"event": "newCall", "direction": "sideways", "callId": "x"}, 422),
        ({"event": "newCall", "direction": "in"}, 422),
    ],
)
async def test_bad_events_are_422(client: Any, payload: dict[str, str], status: int) -> None:
    resp = await client.post(f"/webhooks/cti/{TOKEN}", json=payload)
    assert resp.status == status


async def test_a_bad_token_is_401(client: Any) -> None:
    resp = await client.post("/webhooks/cti/wrong", json={"event": "newCall"})
    assert resp.status == 401
    assert await calls(client) == []


async def test_json_payloads_and_hmac_signatures(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    settings = make_settings(cti_token=TOKEN, cti={"hmac_secret": "s3cret"})
    c = await aiohttp_client(create_app(settings))
    body = json.dumps(
        {
            "event": "newCall",
            "direction": "in",
            "callId": "j1",
            "from": "+14155550100",
            "to": "+15550001111",
            "user": ["alice"],
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    assert (await c.post(f"/webhooks/cti/{TOKEN}", data=body, headers=headers)).status == 403
    stamp = str(int(time.time()))
    sig = cti_signature("s3cret", stamp, body)
    headers["X-CTI-Signature"] = f"t={stamp},v1={sig}"
    resp = await c.post(f"/webhooks/cti/{TOKEN}", data=body, headers=headers)
    assert resp.status == 200 and await resp.json() == {}
    old = str(int(time.time()) - 3600)
    headers["X-CTI-Signature"] = f"t={old},v1={cti_signature('s3cret', old, body)}"
    assert (await c.post(f"/webhooks/cti/{TOKEN}", data=body, headers=headers)).status == 403


async def test_a_pop_comes_down_on_every_console_when_one_agent_answers(client: Any) -> None:
    """newCall pops the card for alice and bob; bob also sees it after a reconnect while it rings;
    when alice answers, bob's pop is taken down and alice gets the call as her work."""
    hub = hub_of(client)
    alice_agent = await add_agent(hub, "alice")
    await add_agent(hub, "bob")
    async with hub.store.transaction() as session:
        row = await session.get(Agent, alice_agent.id)
        assert row is not None
        row.phone = "+49 30 1111"
        session.add(row)
    alice, bob = AgentClient(), AgentClient()
    await alice.connect(str(client.make_url("/")), await login(client, "alice"))
    bob_token = await login(client, "bob")
    await bob.connect(str(client.make_url("/")), bob_token)
    try:
        async with aiohttp.ClientSession() as http:
            new_call = event("newCall", "c-pop", "030 555", "+4930999", ["alice", "bob"])
            assert (await post(http, url(client), new_call))[0] == 200
            popped = await bob.next("call.ringing")
            await alice.next("call.ringing")
            headers = {"Authorization": f"Bearer {bob_token}"}
            state = await (await client.get("/api/agent/state", headers=headers)).json()
            assert [r["interaction"]["id"] for r in state["ringing"]] == [
                popped["interaction"]["id"]
            ]
            answer = event(
                "answer", "c-pop", "030 555", "+4930999", ["alice"], answeringNumber="+49301111"
            )
            assert (await post(http, url(client), answer))[0] == 200
            ended = await bob.next("call.ringing.ended")
            assert ended == {"interaction_id": popped["interaction"]["id"]}
            assert (await alice.next("interaction.assigned"))["interaction"]["id"] == ended[
                "interaction_id"
            ]
            state = await (await client.get("/api/agent/state", headers=headers)).json()
            assert state["ringing"] == []
    finally:
        await alice.close()
        await bob.close()
