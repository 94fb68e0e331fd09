"""Secrets never reach the logs (a real `hub serve` at DEBUG), and the audit log records who
logged in, merged, transferred, moved, peeked, changed agents and queues, and exported."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from channels.base import InboundContact
from hub.actions.handle_offer import accept_offer
from hub.actions.receive_contact import receive_contact
from hub.actions.route_interactions import route_interactions
from hub.app import create_app
from hub.log_redaction import MASK, RedactSecrets
from hub.models import Agent, AuditLog, Customer
from tests.support.hubs import PASSWORD, add_agent, hub_of, login
from tests.support.processes import HubProcess
from tests.support.socket_client import RecordingClient
from tests.support.twilio_signing import sms_form, twilio_signature

SECRETS = {
    "CRMHUB_TWILIO__AUTH_TOKEN": "twilio-auth-token-9f8e7d",
    "CRMHUB_CTI_TOKEN": "cti-path-token-5a4b3c",
    "CRMHUB_SECRET_KEY": "session-secret-key-1a2b3c",
    "CRMHUB_CTI__HMAC_SECRET": "cti-hmac-secret-6d5e4f",
    "CRMHUB_CHAT__IDENTITY_SECRET": "chat-identity-secret-7g8h",
    "CRMHUB_EMAIL__SMTP__PASSWORD": "smtp-password-0z9y8x",
}


def test_the_filter_blanks_secrets_a_library_logs(caplog: pytest.LogCaptureFixture) -> None:
    guard = RedactSecrets(["s3cret-value", "short", ""])
    logger = logging.getLogger("some.library")
    logger.addFilter(guard)
    try:
        with caplog.at_level(logging.DEBUG, logger="some.library"):
            logger.debug("LOGIN user %s", "s3cret-value")
            try:
                raise ValueError("dsn postgres://u:s3cret-value@db")
            except ValueError:
                logger.exception("connect failed")
    finally:
        logger.removeFilter(guard)
    text = caplog.text
    assert "s3cret-value" not in text and text.count(MASK) >= 2
    assert guard.redact("a short word") == "a short word"


@pytest.mark.slow
async def test_a_running_hub_at_debug_logs_no_secret(tmp_path: Path) -> None:
    hub = HubProcess(
        {
            **SECRETS,
            "CRMHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
            "CRMHUB_REDIS_URL": "",
            "CRMHUB_PUBLIC_BASE_URL": "https://hub.test.example",
            "CRMHUB_LOG_LEVEL": "DEBUG",
            "CRMHUB_DEMO_DATA": "false",
            "CRMHUB_TWILIO__API_BASE_URL": "http://127.0.0.1:9",
            # Outbound mail to a closed port: the sender logs its failures.
            "CRMHUB_EMAIL__SMTP__HOST": "127.0.0.1",
            "CRMHUB_EMAIL__SMTP__PORT": "9",
            "CRMHUB_EMAIL__SMTP__USERNAME": "hub",
            "CRMHUB_EMAIL__SMTP__FROM_ADDR": "support@example.com",
        }
    )
    await hub.start()
    seen: list[str] = []
    try:
        proc = await _create_agent(hub, tmp_path)
        assert proc == 0
        async with aiohttp.ClientSession() as http:
            bad = await http.post(
                f"{hub.url}/api/auth/login", json={"username": "ann", "password": "wrong-guess-77"}
            )
            assert bad.status == 401
            good = await http.post(
                f"{hub.url}/api/auth/login", json={"username": "ann", "password": PASSWORD}
            )
            token = (await good.json())["token"]
            seen.append(token)
            auth = {"Authorization": f"Bearer {token}"}
            assert (await http.get(f"{hub.url}/api/agent/state", headers=auth)).status == 200
            form = sms_form("SMlog", "+14155550100", "hello")
            url = "https://hub.test.example/webhooks/twilio/sms"
            sig = twilio_signature(SECRETS["CRMHUB_TWILIO__AUTH_TOKEN"], url, form)
            for signature in (sig, "forged"):
                await http.post(
                    f"{hub.url}/webhooks/twilio/sms",
                    data=form,
                    headers={"X-Twilio-Signature": signature},
                )
            cti = SECRETS["CRMHUB_CTI_TOKEN"]
            await http.post(f"{hub.url}/webhooks/cti/{cti}", json={"event": "newCall"})
            await http.post(f"{hub.url}/webhooks/cti/{cti}x", json={"event": "newCall"})
            console = RecordingClient("/agent", ("state",))
            await console.open(hub.url, {"token": token})
            await console.next("state")
            await console.close()
            await http.post(f"{hub.url}/api/auth/logout", headers=auth)
    finally:
        await hub.stop()
    log = Path(hub.log.name).read_text(errors="replace")
    assert "DEBUG" in log  # the level really was DEBUG
    for secret in [*SECRETS.values(), PASSWORD, "wrong-guess-77", *seen]:
        assert secret not in log, f"{secret[:6]}… found in the hub's log"


async def _create_agent(hub: HubProcess, tmp_path: Path) -> int:
    import asyncio
    import sys

    from tests.support.processes import ROOT

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "create-agent",
        "ann",
        "--password-stdin",
        cwd=ROOT,
        env=hub.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.communicate(PASSWORD.encode() + b"\n")
    return proc.returncode or 0


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


async def test_the_audit_log_records_every_sensitive_action(client: Any) -> None:
    hub = hub_of(client)
    async with hub.store.session() as session:
        agents = {a.username: a for a in (await session.exec(select(Agent))).all()}
    alice, bob = agents["alice"], agents["bob"]
    await client.post("/api/auth/login", json={"username": "alice", "password": "nope-nope"})
    sue = {"Authorization": f"Bearer {await login(client, 'sue')}"}
    ada = {"Authorization": f"Bearer {await login(client, 'ada')}"}
    alice_token = await login(client, "alice")

    got = await receive_contact(
        hub, InboundContact(channel="sms", provider_ref="SM1", sender="+15551230001", body="hi")
    )
    await route_interactions(hub)
    await accept_offer(hub, alice.id, got.interaction_id)
    console = RecordingClient("/agent", ())
    await console.open(str(client.make_url("/")), {"token": alice_token})
    ack = await console.call(
        "transfer", {"interaction_id": got.interaction_id, "queue_id": "sales"}
    )
    assert ack["ok"] is True, ack
    await console.close()
    board = RecordingClient("/supervisor", ())
    await board.open(str(client.make_url("/")), {"token": sue["Authorization"][7:]})
    assert (await board.call("peek", {"interaction_id": got.interaction_id}))["ok"] is True
    ack = await board.call(
        "reassign", {"interaction_id": got.interaction_id, "queue_id": "support"}
    )
    assert ack["ok"] is True, ack
    await board.close()

    await client.patch(f"/api/agents/{bob.id}", json={"status": "away"}, headers=sue)
    await client.post(
        "/api/agents",
        json={"username": "newbie", "password": "long enough pass"},
        headers=ada,
    )
    await client.post(f"/api/agents/{bob.id}/revoke-tokens", headers=ada)
    await client.post("/api/queues", json={"id": "vip", "name": "VIP"}, headers=sue)
    await client.put("/api/queues/vip", json={"name": "VIP desk"}, headers=sue)
    a = await (await client.post("/api/customers", json={"name": "A"}, headers=sue)).json()
    b = await (await client.post("/api/customers", json={"name": "B"}, headers=sue)).json()
    merged = await client.post(
        f"/api/customers/{a['id']}/merge", json={"other_id": b["id"]}, headers=sue
    )
    assert merged.status == 200, await merged.text()
    await client.get("/api/customers/export.csv", headers=sue)
    await client.get(f"/api/customers/{a['id']}/export", headers=sue)
    await client.get("/api/reports?format=csv", headers=sue)
    await client.delete(f"/api/customers/{a['id']}", headers=ada)
    await client.post("/api/auth/logout", headers=sue)

    async with hub.store.session() as session:
        rows = (await session.exec(select(AuditLog))).all()
        assert await session.get(Customer, a["id"]) is not None  # erased, not deleted
    actions = {(r.actor, r.action) for r in rows}
    expected = {
        ("alice", "login.failed"),
        ("sue", "login"),
        ("alice", "interaction.transfer"),
        ("sue", "interaction.peek"),
        ("sue", "interaction.reassign"),
        ("sue", "agent.update"),
        ("ada", "agent.create"),
        ("ada", "agent.revoke_tokens"),
        ("sue", "queue.create"),
        ("sue", "queue.update"),
        ("sue", "customers.export"),
        ("sue", "customer.export"),
        ("sue", "report.export"),
        ("ada", "customer.erase"),
        ("sue", "logout"),
    }
    assert expected - actions == set()
    assert any(r.action.startswith("customer.merge") for r in rows)
    status_change = next(r for r in rows if r.action == "agent.update")
    assert status_change.target == bob.id and status_change.detail == {"status": "away"}
    assert all(PASSWORD not in str(r.detail) for r in rows)
