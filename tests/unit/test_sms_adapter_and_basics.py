"""Pure pieces: the SMS adapter's normalization, phone numbers, event wire format, settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from channels.base import ChannelError
from channels.twilio_sms import EMPTY_TWIML, parse_sms_status, parse_sms_webhook
from hub.events import EVENT_TYPES, OfferMade, UnknownEvent, from_wire
from hub.phones import to_e164
from hub.settings import Settings


def test_sms_form_is_normalized_with_media() -> None:
    c = parse_sms_webhook(
        {
            "MessageSid": "SM1",
            "From": "+14155550100",
            "To": "+15550001111",
            "Body": "x" * 50,
            "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/m0",
            "MediaContentType0": "image/png",
            "MediaUrl1": "https://api.twilio.com/m1",
            "MediaContentType1": "image/jpeg",
        },
        max_body_chars=10,
    )
    assert (c.channel, c.provider_ref, c.sender, c.recipient) == (
        "sms",
        "SM1",
        "+14155550100",
        "+15550001111",
    )
    assert c.body == "x" * 10
    assert [a.content_type for a in c.attachments] == ["image/png", "image/jpeg"]


@pytest.mark.parametrize(
    "form",
    [
        {"From": "+1"},
        {"MessageSid": "SM1"},
        {"MessageSid": "SM1", "From": "+1", "NumMedia": "x"},
        {"MessageSid": "SM1", "From": "+1", "NumMedia": "99"},
    ],
)
def test_bad_sms_forms_raise_channel_errors(form: dict[str, str]) -> None:
    with pytest.raises(ChannelError):
        parse_sms_webhook(form, max_body_chars=100)


def test_status_form() -> None:
    assert parse_sms_status({"MessageSid": "SM1", "MessageStatus": "Delivered"}) == (
        "SM1",
        "delivered",
        None,
    )
    assert (
        parse_sms_status({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30003"})[2]
        == "30003"
    )
    with pytest.raises(ChannelError):
        parse_sms_status({"MessageSid": "SM1", "MessageStatus": "bogus"})


def test_empty_twiml_is_an_empty_response() -> None:
    assert EMPTY_TWIML.endswith("<Response />")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (415) 555-0100", "+14155550100"),
        ("415-555-0100", "+14155550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),
        ("hello", None),
        ("", None),
        ("+1 555", None),
    ],
)
def test_phone_numbers_become_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw, "US") == expected


def test_events_round_trip_through_the_wire_format() -> None:
    e = OfferMade(offer_id="o", interaction_id="i", agent_id="a", expires_at=1.5)
    assert from_wire(e.to_wire()) == e
    assert len(EVENT_TYPES) == len({cls.wire for cls in EVENT_TYPES.values()})
    with pytest.raises(UnknownEvent):
        from_wire({"type": "no.such.event"})


def test_every_event_goes_on_the_wire_whole() -> None:
    """to_wire reads the fields one by one; it says what dataclasses.asdict says, for every
    event type and for a subclass's fields too."""
    for cls in EVENT_TYPES.values():
        sample = {"float": 1.5, "bool": False, "tuple[str, ...]": ("a1", "a2")}
        e = cls(
            **{
                f.name: sample.get(str(f.type), f"v-{f.name}")
                for f in dataclasses.fields(cls)
                if f.name != "event_id"
            }
        )
        assert e.to_wire() == {"type": cls.wire, **dataclasses.asdict(e)}, cls
        assert from_wire(e.to_wire()) == e


def test_environment_overrides_the_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMHUB_TWILIO__AUTH_TOKEN", "from-env")
    monkeypatch.setenv("CRMHUB_ROUTING__OFFER_TIMEOUT_S", "7")
    monkeypatch.setenv("CRMHUB_REDIS_URL", "redis://example:6379/1")
    s = Settings()
    assert s.twilio.auth_token == "from-env" and s.routing.offer_timeout_s == 7
    assert s.redis_url == "redis://example:6379/1"
    assert [q.id for q in s.queues] == ["support", "sales", "vip"]  # from config/default.toml
    assert "from-env" not in repr(s)


@pytest.mark.parametrize("raw", ["+86 138 0013 8000", "008613800138000", "13800138000"])
def test_chinese_mobile_numbers_are_one_identity(raw: str) -> None:
    assert to_e164(raw, "CN") == "+8613800138000"


@pytest.mark.parametrize("raw", ["+49 30 123456", "0049 30 123456", "030 123456"])
def test_german_numbers_with_de_as_default_region(raw: str) -> None:
    assert to_e164(raw, "DE") == "+4930123456"


def test_the_postgresql_pool_is_fixed_size_so_a_burst_does_not_churn_connections() -> None:
    from hub.store import make_engine

    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test", pool_size=7)
    pool: Any = engine.pool
    assert pool.size() == 7 and pool._max_overflow == 0
