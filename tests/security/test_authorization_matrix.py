"""Who may do what: every REST route and every Socket.IO event, for anonymous, a chat visitor,
an agent, a supervisor and an admin.

The route table below must name every route the app registers (a new route without a rule fails
`test_the_matrix_covers_every_route`). Path ids are ids that do not exist, so an allowed caller
gets 404/422 and a refused one 401/403 *before* any lookup: nothing is changed by the sweep.
Object-level rules (an agent reaches only their own or their queues' work) are tested on real
interactions below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import socketio
from sqlmodel import select

from channels.base import InboundContact
from hub.actions.handle_offer import accept_offer
from hub.actions.receive_contact import receive_contact
from hub.actions.route_interactions import route_interactions
from hub.app import create_app
from hub.context import Hub
from hub.models import Interaction, Message
from tests.support.agent_client import AgentClient
from tests.support.hubs import add_agent, hub_of, login
from tests.support.socket_client import RecordingClient
from tests.support.visitor_client import VisitorClient

ROLES = ("anonymous", "visitor", "agent", "supervisor", "admin")
PUBLIC = set(ROLES)
STAFF = {"agent", "supervisor", "admin"}
MANAGERS = {"supervisor", "admin"}
ADMIN = {"admin"}
SIGNED = "signed"  # provider webhooks: a signature, not a role (tests/security/test_webhook_*)

NOPE = "0" * 24  # a well-formed id that does not exist
ROUTES: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): PUBLIC,
    ("GET", "/api/agent/state"): STAFF,
    ("GET", "/api/agents"): STAFF,
    ("POST", "/api/agents"): ADMIN,
    ("PATCH", "/api/agents/{agent_id}"): MANAGERS,
    ("POST", "/api/agents/{agent_id}/revoke-tokens"): ADMIN,
    ("GET", "/api/queues"): STAFF,
    ("POST", "/api/queues"): MANAGERS,
    ("PUT", "/api/queues/{queue_id}"): MANAGERS,
    ("GET", "/api/calls"): STAFF,
    ("GET", "/api/customers"): STAFF,
    ("POST", "/api/customers"): STAFF,
    ("POST", "/api/customers/import"): MANAGERS,
    ("GET", "/api/customers/export.csv"): MANAGERS,
    ("GET", "/api/customers/{customer_id}"): STAFF,
    ("PATCH", "/api/customers/{customer_id}"): STAFF,
    ("DELETE", "/api/customers/{customer_id}"): ADMIN,
    ("GET", "/api/customers/{customer_id}/export"): MANAGERS,
    ("POST", "/api/customers/{customer_id}/notes"): STAFF,
    ("POST", "/api/customers/{customer_id}/orders"): MANAGERS,
    ("POST", "/api/customers/{customer_id}/merge"): MANAGERS,
    ("POST", "/api/customers/{customer_id}/backoffice"): STAFF,
    ("POST", "/api/merges/{merge_id}/undo"): MANAGERS,
    ("GET", "/api/reports"): MANAGERS,
    ("GET", "/api/interactions/{interaction_id}"): STAFF,
    ("GET", "/api/attachments/{attachment_id}"): STAFF,
    ("POST", "/webhooks/twilio/sms"): SIGNED,
    ("POST", "/webhooks/twilio/sms/status"): SIGNED,
    ("POST", "/webhooks/twilio/voice"): SIGNED,
    ("POST", "/webhooks/twilio/voice/wait"): SIGNED,
    ("POST", "/webhooks/twilio/voice/status"): SIGNED,
    ("POST", "/webhooks/twilio/voice/recording"): SIGNED,
    ("POST", "/webhooks/cti/{token}"): SIGNED,
    ("GET", "/"): PUBLIC,
    ("GET", "/console"): PUBLIC,
    ("GET", "/console/"): PUBLIC,
    ("GET", "/console/vendor/{name}"): PUBLIC,
    ("GET", "/console/static/{filename}"): PUBLIC,
    ("GET", "/supervisor"): PUBLIC,
    ("GET", "/supervisor/"): PUBLIC,
    ("GET", "/widget.js"): PUBLIC,
    ("GET", "/widget/socket.io.min.js"): PUBLIC,
}


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    settings = make_settings(
        queues=[{"id": "support", "name": "Support"}, {"id": "sales", "name": "Sales"}]
    )
    c = await aiohttp_client(create_app(settings))
    hub = hub_of(c)
    await add_agent(hub, "alice", available=True)
    await add_agent(hub, "bob")
    await add_agent(hub, "sue", role="supervisor")
    await add_agent(hub, "ada", role="admin")
    return c


async def tokens_of(client: Any) -> dict[str, str]:
    return {
        "agent": await login(client, "alice"),
        "supervisor": await login(client, "sue"),
        "admin": await login(client, "ada"),
    }


def registered_routes(client: Any) -> set[tuple[str, str]]:
    out = set()
    for route in client.app.router.routes():
        if route.method in ("HEAD", "OPTIONS", "*"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or (info.get("prefix", "") + "/{filename}")
        if path.startswith("/socket.io"):
            continue  # python-socketio's own endpoint; its namespaces are tested below
        out.add((route.method, path))
    return out


async def test_the_matrix_covers_every_route(client: Any) -> None:
    assert registered_routes(client) == set(ROUTES)


async def test_every_route_for_every_role(client: Any) -> None:
    tokens = await tokens_of(client)
    visitor = VisitorClient()
    await visitor.connect(str(client.make_url("/")))
    await visitor.next("history")
    visitor_token = visitor.token  # a chat session token is not a staff token
    await visitor.close()
    failures = []
    for (method, template), allowed in sorted(ROUTES.items()):
        if allowed == SIGNED:
            continue
        path = template.format(
            agent_id=NOPE,
            queue_id=NOPE,
            customer_id=NOPE,
            merge_id=NOPE,
            interaction_id=NOPE,
            attachment_id=NOPE,
            name="socket.io.min.js",
            filename="console.js",
        )
        for role in ROLES:
            headers = {}
            if template == "/api/auth/logout":
                pass  # would revoke the token the rest of the sweep uses (tested below)
            elif role in tokens:
                headers["Authorization"] = f"Bearer {tokens[role]}"
            elif role == "visitor" and visitor_token:
                headers["Authorization"] = f"Bearer {visitor_token}"
            body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
            if template == "/api/auth/login":
                body = {"username": "nobody", "password": "nothing"}
            resp = await client.request(method, path, json=body, headers=headers)
            status = resp.status
            if role not in allowed:
                expected = 401 if role in ("anonymous", "visitor") else 403
                if status != expected:
                    failures.append(f"{method} {template} as {role}: {status}, wanted {expected}")
            elif (status in (401, 403) and template != "/api/auth/login") or status >= 500:
                failures.append(f"{method} {template} as {role}: {status}, wanted access")
    assert failures == []


async def _assigned(hub: Hub, agent_id: str, sid: str, phone: str) -> str:
    got = await receive_contact(
        hub, InboundContact(channel="sms", provider_ref=sid, sender=phone, body="private")
    )
    await route_interactions(hub)
    await accept_offer(hub, agent_id, got.interaction_id)
    return got.interaction_id


async def test_namespaces_refuse_who_does_not_belong(client: Any) -> None:
    tokens = await tokens_of(client)
    base = str(client.make_url("/"))
    visitor = VisitorClient()
    await visitor.connect(base)
    await visitor.next("history")
    credentials: dict[str, Any] = {
        "anonymous": None,
        "visitor": {"token": visitor.token},
        "bad token": {"token": "x" * 43},
        **{role: {"token": token} for role, token in tokens.items()},
    }
    await visitor.close()
    allowed = {"/agent": STAFF, "/supervisor": MANAGERS}
    for namespace, who in allowed.items():
        for role, auth in credentials.items():
            sock = RecordingClient(namespace, ())
            try:
                await sock.open(base, auth)
                connected = True
            except socketio.exceptions.ConnectionError:
                connected = False
            finally:
                await sock.close()
            assert connected == (role in who), f"{namespace} as {role}"


async def test_an_agent_cannot_act_on_another_agents_conversation(client: Any) -> None:
    hub = hub_of(client)
    async with hub.store.session() as session:
        rows = {a.username: a for a in (await session.exec(select_agents())).all()}
    theirs = await _assigned(hub, rows["alice"].id, "SMa", "+15551230001")
    console = AgentClient()
    await console.connect(str(client.make_url("/")), await login(client, "bob"))
    before = await conversation(hub, theirs)
    attempts = {
        "accept": {"interaction_id": theirs},
        "reject": {"interaction_id": theirs},
        "reply": {"interaction_id": theirs, "body": "hijack"},
        "wrapup": {"interaction_id": theirs, "disposition": "resolved"},
        "transfer": {"interaction_id": theirs, "queue_id": "sales"},
        "hangup": {"interaction_id": theirs},
        "read": {"interaction_id": theirs},
        "typing": {"interaction_id": theirs},
    }
    try:
        for event, data in attempts.items():
            ack = await console.call(event, data)
            assert ack["ok"] is False, f"{event}: {ack}"
            assert ack["error"] in ("forbidden", "conflict", "not_found", "invalid"), ack
    finally:
        await console.close()
    assert await conversation(hub, theirs) == before


async def test_a_revoked_token_stops_a_connected_console_at_once(client: Any) -> None:
    token = await login(client, "sue")
    board = RecordingClient("/supervisor", ())
    await board.open(str(client.make_url("/")), {"token": token})
    console = AgentClient()
    await console.connect(str(client.make_url("/")), token)
    try:
        assert (await console.call("status", {"status": "available"}))["ok"] is True
        await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert (await console.call("status", {"status": "away"}))["error"] == "unauthorized"
        assert (await board.call("peek", {"interaction_id": NOPE}))["error"] == "unauthorized"
    finally:
        await console.close()
        await board.close()


async def test_an_admin_revokes_every_token_of_an_agent(client: Any) -> None:
    tokens = await tokens_of(client)
    stolen = await login(client, "bob")
    again = await login(client, "bob")
    async with hub_of(client).store.session() as session:
        bob = {a.username: a for a in (await session.exec(select_agents())).all()}["bob"]
    resp = await client.post(
        f"/api/agents/{bob.id}/revoke-tokens",
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert resp.status == 200 and (await resp.json())["revoked"] == 2
    for token in (stolen, again):
        got = await client.get("/api/agent/state", headers={"Authorization": f"Bearer {token}"})
        assert got.status == 401
    assert (
        await client.post(
            "/api/auth/login", json={"username": "bob", "password": "correct horse battery"}
        )
    ).status == 200


async def test_a_supervisor_manages_agents_but_not_other_managers(client: Any) -> None:
    tokens = await tokens_of(client)
    async with hub_of(client).store.session() as session:
        rows = {a.username: a for a in (await session.exec(select_agents())).all()}
    sup = {"Authorization": f"Bearer {tokens['supervisor']}"}
    ok = await client.patch(f"/api/agents/{rows['bob'].id}", json={"status": "away"}, headers=sup)
    assert ok.status == 200
    for target in ("ada",):
        resp = await client.patch(
            f"/api/agents/{rows[target].id}", json={"client_identity": "sue-browser"}, headers=sup
        )
        assert resp.status == 403
    promote = await client.patch(
        f"/api/agents/{rows['sue'].id}", json={"role": "admin"}, headers=sup
    )
    assert promote.status == 403


async def test_a_visitor_sees_only_its_own_conversation(client: Any) -> None:
    """Giving someone else's email must not open their history (GHSA-rfh4-6ghv-m2rr)."""
    base = str(client.make_url("/"))
    first = VisitorClient()
    await first.connect(base, email="victim@example.com", name="Victim")
    await first.next("history")
    assert (await first.call("message", {"body": "my card number is secret"}))["ok"] is True
    await first.close()

    intruder = VisitorClient()
    await intruder.connect(base, email="victim@example.com")
    try:
        assert "secret" not in str(await intruder.next("history"))
    finally:
        await intruder.close()
    forged = VisitorClient()
    await forged.connect(base, token=(first.token or "")[:-2] + "xx")
    try:
        assert "secret" not in str(await forged.next("history"))
        assert forged.token and forged.token != first.token  # a fresh session, not the victim's
    finally:
        await forged.close()


def select_agents() -> Any:
    from hub.models import Agent

    return select(Agent)


async def conversation(hub: Hub, interaction_id: str) -> tuple[Any, ...]:
    async with hub.store.session() as session:
        it = await session.get(Interaction, interaction_id)
        assert it is not None
        msgs = (
            await session.exec(select(Message).where(Message.interaction_id == interaction_id))
        ).all()
        return (it.state, it.assigned_agent_id, it.queue_id, sorted(m.body for m in msgs))
