"""The SMS adapter's pure pieces: inbound webhook and status callback normalization, empty TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from channels.base import Attachment, ChannelError
from channels.twilio_sms import EMPTY_TWIML, STATUSES, parse_sms_status, parse_sms_webhook

ACCOUNT = "AC" + "1" * 32


def form(**extra: str) -> dict[str, str]:
    base = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": ACCOUNT,
        "From": "+14155550100",
        "To": "+15550001111",
        "Body": "Hello there",
        "NumMedia": "0",
    }
    return {**base, **extra}


def test_a_plain_sms_is_normalized() -> None:
    c = parse_sms_webhook(form(), max_body_chars=1000)
    assert (c.channel, c.provider_ref, c.sender, c.recipient, c.body) == (
        "sms",
        "SM" + "a" * 32,
        "+14155550100",
        "+15550001111",
        "Hello there",
    )
    assert c.attachments == ()
    assert c.meta["account_sid"] == ACCOUNT


def test_the_body_is_truncated_to_the_configured_size() -> None:
    c = parse_sms_webhook(form(Body="é" * 500), max_body_chars=160)
    assert c.body == "é" * 160


def test_media_become_attachments_with_provider_urls() -> None:
    c = parse_sms_webhook(
        form(
            NumMedia="2",
            MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME0",
            MediaContentType0="image/jpeg",
            MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            MediaContentType1="application/pdf",
        ),
        max_body_chars=100,
    )
    assert [(a.url or "").rsplit("/", 1)[-1] for a in c.attachments] == ["ME0", "ME1"]
    assert [a.content_type for a in c.attachments] == ["image/jpeg", "application/pdf"]
    assert all(isinstance(a, Attachment) and a.data is None for a in c.attachments)
    assert c.meta["num_media"] == 2


def test_missing_to_and_body_are_tolerated() -> None:
    c = parse_sms_webhook({"MessageSid": "SM1", "From": "+1415"}, max_body_chars=10)
    assert (c.recipient, c.body, c.attachments) == ("", "", ())


def test_the_legacy_sms_sid_field_is_accepted() -> None:
    assert (
        parse_sms_webhook({"SmsSid": "SM9", "From": "+1"}, max_body_chars=5).provider_ref == "SM9"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"MessageSid": ""},
        {"MessageSid": "SM" + "x" * 100},
        {"From": ""},
        {"From": "   "},
        {"NumMedia": "two"},
        {"NumMedia": "1.5"},
        {"NumMedia": "-1"},
        {"NumMedia": "11"},
    ],
)
def test_bad_webhooks_raise_channel_errors(bad: dict[str, str]) -> None:
    with pytest.raises(ChannelError):
        parse_sms_webhook(form(**bad), max_body_chars=100)


def test_ten_media_is_the_limit() -> None:
    c = parse_sms_webhook(form(NumMedia="10"), max_body_chars=100)
    assert len(c.attachments) == 10


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_every_twilio_message_status_is_accepted(status: str) -> None:
    assert parse_sms_status({"MessageSid": "SM1", "MessageStatus": status}) == (
        "SM1",
        status,
        None,
    )


def test_a_status_keeps_its_error_code() -> None:
    got = parse_sms_status(
        {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30005"}
    )
    assert got == ("SM1", "undelivered", "30005")


@pytest.mark.parametrize(
    "bad",
    [
        {"MessageStatus": "delivered"},
        {"MessageSid": "SM1"},
        {"MessageSid": "SM1", "MessageStatus": "exploded"},
    ],
)
def test_bad_status_callbacks_raise(bad: dict[str, str]) -> None:
    with pytest.raises(ChannelError):
        parse_sms_status(bad)


def test_empty_twiml_is_an_empty_response_document() -> None:
    assert EMPTY_TWIML.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(EMPTY_TWIML)
    assert root.tag == "Response" and len(root) == 0 and not (root.text or "").strip()
