"""Zulip-style protocol check: the state snapshot plus every event applied in order equals a
fresh snapshot taken afterwards, so a console that follows events never shows stale data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.app import create_app
from tests.support.agent_client import AgentClient
from tests.support.fake_twilio import start_fake_twilio
from tests.support.hubs import add_agent, hub_of, login, post_sms


class ConsoleModel:
    """The console's reducer (agent_console/static/console.js), in Python."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.agent = snapshot["agent"]
        self.offers = {o["interaction"]["id"]: o for o in snapshot["offers"]}
        self.work = {w["interaction"]["id"]: w for w in snapshot["interactions"]}

    def apply(self, name: str, data: Any) -> None:
        if name == "status":
            self.agent = data
        elif name == "offer":
            self.offers[data["interaction"]["id"]] = data
        elif name == "offer.revoked":
            self.offers.pop(data["interaction_id"], None)
        elif name == "interaction.assigned":
            self.offers.pop(data["interaction"]["id"], None)
            self.work[data["interaction"]["id"]] = data
        elif name == "interaction.updated":
            if data["id"] in self.work:
                moved = data["assigned_agent_id"] not in (None, self.agent["id"])
                if moved or (data["state"] != "assigned" and not data.get("needs_wrapup")):
                    del self.work[data["id"]]
                else:
                    self.work[data["id"]]["interaction"] = data
        elif name == "customer.updated":
            for item in [*self.offers.values(), *self.work.values()]:
                if item["customer"]["id"] == data["id"]:
                    item["customer"] = data
        elif name in ("message.created", "message.status"):
            item = self.work.get(data["interaction_id"]) or self.offers.get(data["interaction_id"])
            if item is not None:
                msgs = [m for m in item["messages"] if m["id"] != data["id"]]
                item["messages"] = sorted([*msgs, data], key=lambda m: m["created_at"])

    def view(self) -> dict[str, Any]:
        return {
            "status": self.agent["status"],
            "offers": sorted(self.offers),
            "work": {
                k: [(m["id"], m["status"], m["body"]) for m in v["messages"]]
                for k, v in self.work.items()
            },
            "customers": {
                k: (v["customer"]["tags"], v["customer"]["tier"], v["interaction"]["state"])
                for k, v in self.work.items()
            },
        }


async def same_as_fresh(client: Any, token: str, model: ConsoleModel) -> None:
    resp = await client.get("/api/agent/state", headers={"Authorization": f"Bearer {token}"})
    assert model.view() == ConsoleModel(await resp.json()).view()


async def drain(console: AgentClient, model: ConsoleModel, until: str) -> Any:
    while True:
        name, data = await console.inbox.get()
        model.apply(name, data)
        if name == until:
            return data


async def test_snapshot_plus_events_equals_a_fresh_snapshot(
    aiohttp_client: Any, make_settings: Callable[..., Any]
) -> None:
    async with start_fake_twilio() as twilio:
        settings = make_settings(
            run_background=True,
            twilio={"api_base_url": twilio.base_url},
            routing={"tick_s": 0.2, "wrapup_s": 0},
        )
        client = await aiohttp_client(create_app(settings))
        await add_agent(hub_of(client), "alice")
        token = await login(client, "alice")
        console = AgentClient()
        await console.connect(str(client.make_url("/")), token)
        try:
            model = ConsoleModel(await console.next("state"))
            await console.call("status", {"status": "available"})
            await drain(console, model, "status")
            await post_sms(client, "SM1", "+14155550001", "first")
            offer = await drain(console, model, "offer")
            first = offer["interaction"]["id"]
            await console.call("accept", {"interaction_id": first})
            await drain(console, model, "interaction.assigned")
            await console.call("reply", {"interaction_id": first, "body": "hello"})
            await drain(console, model, "message.status")
            await post_sms(client, "SM2", "+14155550001", "second, same conversation")
            await drain(console, model, "message.created")
            await same_as_fresh(client, token, model)
            assert len(model.view()["work"][first]) == 3
            await post_sms(client, "SM3", "+14155550002", "another customer")
            second = (await drain(console, model, "offer"))["interaction"]["id"]
            await console.call("reject", {"interaction_id": second})
            await drain(console, model, "offer.revoked")
            await console.call("wrapup", {"interaction_id": first, "disposition": "resolved"})
            await drain(console, model, "interaction.updated")

            await same_as_fresh(client, token, model)
            assert model.view()["work"] == {} and model.view()["offers"] == []

            # A colleague edits the customer; then the agent transfers the work with a note.
            await post_sms(client, "SM4", "+14155550003", "third customer")
            third = (await drain(console, model, "offer"))["interaction"]["id"]
            await console.call("accept", {"interaction_id": third})
            await drain(console, model, "interaction.assigned")
            customer_id = model.work[third]["customer"]["id"]
            resp = await client.patch(
                f"/api/customers/{customer_id}",
                json={"tags": ["vip"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert resp.status == 200
            await drain(console, model, "customer.updated")
            await same_as_fresh(client, token, model)
            assert model.view()["customers"][third][:2] == (["vip"], "vip")
            await console.call(
                "transfer", {"interaction_id": third, "queue_id": "support", "note": "over to you"}
            )
            await drain(console, model, "interaction.updated")
            await same_as_fresh(client, token, model)
            assert model.view()["work"] == {}
        finally:
            await console.close()
