"""Zammad-compatible generic CTI parsing: form and JSON shapes, validation, dedupe, contacts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from multidict import MultiDict

from channels.base import ChannelError
from channels.cti import (
    CAUSES,
    CTI_OK,
    cti_reject,
    cti_signature,
    cti_signature_ok,
    cti_token_ok,
    parse_cti,
    to_contact,
)


def payload(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event": "newCall",
        "direction": "in",
        "callId": "4711",
        "from": "+4930123456",
        "to": "+4930999",
    }
    return {**base, **extra}


def test_form_and_json_shapes_parse_the_same() -> None:
    form = MultiDict(
        [
            ("event", "newCall"),
            ("direction", "in"),
            ("callId", "4711"),
            ("from", "+4930123456"),
            ("to", "+4930999"),
            ("user[]", "alice"),
            ("user[]", "bob"),
            ("queue", "support"),
        ]
    )
    flattened = payload(**{"user[]": ["alice", "bob"], "queue": "support"})
    as_json = payload(user=["alice", "bob"], queue="support")
    assert parse_cti(form) == parse_cti(flattened) == parse_cti(as_json)
    e = parse_cti(as_json)
    assert (e.event, e.direction, e.call_id, e.from_, e.to) == (
        "newCall",
        "in",
        "4711",
        "+4930123456",
        "+4930999",
    )
    assert (e.users, e.queue) == (("alice", "bob"), "support")


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        ({"user": "alice"}, ("alice",)),
        ({"user[]": "alice"}, ("alice",)),
        ({"user": ["alice", "", " bob "]}, ("alice", "bob")),
        ({"user": ""}, ()),
        ({}, ()),
        ({"user[]": [f"u{i}" for i in range(50)]}, tuple(f"u{i}" for i in range(20))),
    ],
)
def test_users_come_as_a_string_or_a_list(users: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert parse_cti(payload(**users)).users == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"event": "ringing"},
        {"event": ""},
        {"event": None},
        {"event": "NEWCALL"},
        {"direction": "inbound"},
        {"direction": ""},
        {"callId": ""},
        {"callId": "   "},
    ],
)
def test_bad_event_direction_or_call_id_raise(bad: dict[str, Any]) -> None:
    with pytest.raises(ChannelError):
        parse_cti(payload(**bad))


def test_a_missing_field_raises() -> None:
    p = payload()
    del p["direction"]
    with pytest.raises(ChannelError):
        parse_cti(p)


@pytest.mark.parametrize("cause", CAUSES)
def test_known_hangup_causes_are_kept(cause: str) -> None:
    assert parse_cti(payload(event="hangup", cause=cause)).cause == cause


def test_unknown_causes_are_other_not_rejected() -> None:
    assert parse_cti(payload(event="hangup", cause="cosmicRay")).cause == "other"
    assert parse_cti(payload(event="hangup")).cause == ""


def test_answer_carries_the_answering_number() -> None:
    e = parse_cti(payload(event="answer", answeringNumber="+4930111"))
    assert e.answering_number == "+4930111"


def test_dedupe_keys_are_call_and_event() -> None:
    keys = {parse_cti(payload(event=ev)).dedupe_key for ev in ("newCall", "answer", "hangup")}
    assert keys == {"4711:newCall", "4711:answer", "4711:hangup"}
    assert parse_cti(payload()).dedupe_key == parse_cti(payload(user="x")).dedupe_key
    assert parse_cti(payload(callId="1")).dedupe_key != parse_cti(payload(callId="2")).dedupe_key


def test_oversized_values_are_bounded() -> None:
    e = parse_cti(payload(callId="c" * 1000, **{"from": "9" * 500}))
    assert len(e.call_id) == 128 and len(e.from_) == 64


def test_an_inbound_new_call_becomes_a_voice_contact() -> None:
    c = to_contact(parse_cti(payload(user=["alice"], queue="support")))
    assert (c.channel, c.provider_ref, c.sender, c.recipient) == (
        "voice",
        "cti:4711",
        "+4930123456",
        "+4930999",
    )
    assert c.meta == {"source": "cti", "direction": "in", "queue": "support", "users": ["alice"]}


def test_an_outbound_call_is_about_the_callee() -> None:
    e = parse_cti(payload(direction="out", **{"from": "+4930999", "to": "+4930123456"}))
    assert e.customer_number == "+4930123456"
    assert (to_contact(e).sender, to_contact(e).recipient) == ("+4930123456", "+4930999")


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [
        ("s3cret-token", "s3cret-token", True),
        ("s3cret-token", "s3cret-tokem", False),
        ("s3cret-token", "", False),
        ("", "", False),
        ("s3cret-token", "s3cret-token-longer", False),
        ("s3cret-token", "ßecret-token", False),
    ],
)
def test_tokens_compare_in_constant_time(expected: str, given: str, ok: bool) -> None:
    assert cti_token_ok(expected, given) is ok


def test_optional_hmac_signatures() -> None:
    body, now = b"event=newCall&callId=1", time.time()
    stamp = str(int(now))
    header = f"t={stamp},v1={cti_signature('k', stamp, body)}"
    assert cti_signature_ok("k", header, body, now)
    assert not cti_signature_ok("k", header, body + b"x", now)
    assert not cti_signature_ok("other", header, body, now)
    assert not cti_signature_ok("k", header, body, now + 3600)
    assert not cti_signature_ok("k", None, body, now)
    assert not cti_signature_ok("k", "garbage", body, now)


def test_responses_are_zammad_shaped() -> None:
    assert CTI_OK == {}
    assert cti_reject() == {"action": "reject", "reason": "busy"}
    assert cti_reject("blocked") == {"action": "reject", "reason": "blocked"}
