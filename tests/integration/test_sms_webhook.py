"""POST /webhooks/twilio/sms: signature, one transaction, idempotent, customer matching."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import func, select

from hub.app import create_app
from hub.models import Customer, CustomerIdentity, Interaction, Message
from tests.support.hubs import hub_of, post_sms

pytestmark = pytest.mark.postgres


@pytest.fixture
async def client(db_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    return await aiohttp_client(create_app(make_settings(database_url=db_url)))


async def count(client: Any, model: Any) -> int:
    async with hub_of(client).store.session() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_signed_sms_is_stored_and_answered_with_empty_twiml(client: Any) -> None:
    resp = await post_sms(client, "SM1", "+1 (415) 555-0199", "My router is blinking red")
    assert resp.status == 200
    assert resp.content_type == "text/xml"
    assert "<Response />" in (await resp.text()).replace("<Response/>", "<Response />")
    async with hub_of(client).store.session() as session:
        message = (await session.exec(select(Message))).one()
        identity = (await session.exec(select(CustomerIdentity))).one()
        interaction = (await session.exec(select(Interaction))).one()
    assert message.body == "My router is blinking red" and message.provider_ref == "SM1"
    assert identity.kind == "phone" and identity.value == "+14155550199"
    assert interaction.state == "queued" and interaction.customer_address == "+14155550199"


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
async def test_bad_or_missing_signature_is_403_and_stores_nothing(
    client: Any, signature: str
) -> None:
    resp = await post_sms(client, "SM2", "+14155550199", "hello", signature=signature)
    assert resp.status == 403
    assert await count(client, Message) == 0
    assert await count(client, Customer) == 0


async def test_a_tampered_body_fails_the_signature(client: Any) -> None:
    from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
    from tests.support.twilio_signing import sms_form, twilio_signature

    form = sms_form("SM3", "+14155550199", "original")
    sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + "/webhooks/twilio/sms", form)
    form["Body"] = "tampered"
    resp = await client.post("/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": sig})
    assert resp.status == 403
    assert await count(client, Message) == 0


async def test_a_repeated_message_sid_is_not_stored_twice(client: Any) -> None:
    for _ in range(3):
        resp = await post_sms(client, "SM4", "+14155550199", "hello")
        assert resp.status == 200
    assert await count(client, Message) == 1
    assert await count(client, Interaction) == 1


async def test_same_phone_in_another_format_is_the_same_customer(client: Any) -> None:
    await post_sms(client, "SM5", "+14155550199", "first")
    await post_sms(client, "SM6", "(415) 555-0199", "second")
    assert await count(client, Customer) == 1
    assert await count(client, Interaction) == 1  # the open SMS conversation continues
    assert await count(client, Message) == 2


async def test_missing_fields_are_422_and_store_nothing(client: Any) -> None:
    from tests.conftest import TEST_AUTH_TOKEN, TEST_PUBLIC_URL
    from tests.support.twilio_signing import twilio_signature

    form = {"AccountSid": "AC" + "0" * 32, "Body": "no sid"}
    sig = twilio_signature(TEST_AUTH_TOKEN, TEST_PUBLIC_URL + "/webhooks/twilio/sms", form)
    resp = await client.post("/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": sig})
    assert resp.status == 422
    assert await count(client, Message) == 0


async def test_an_unreadable_phone_number_is_422(client: Any) -> None:
    resp = await post_sms(client, "SM7", "not-a-number", "hello")
    assert resp.status == 422
    assert await count(client, Message) == 0
