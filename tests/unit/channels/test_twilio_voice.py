"""Twilio Voice: webhook normalization and the TwiML we answer, parsed back with ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from channels.base import ChannelError
from channels.twilio_voice import (
    CALL_STATUSES,
    ENDED,
    dial_agent_twiml,
    enqueue_twiml,
    hangup_twiml,
    parse_voice_status,
    parse_voice_webhook,
    parse_wait,
    reject_twiml,
    say_language,
    voicemail_twiml,
    wait_twiml,
)

CALL = "CA" + "b" * 32
HOSTILE = '<Say>pwned</Say><Dial><Number>+19005550000</Number></Dial> & "x"'


def parse(twiml: str) -> ET.Element:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return root


def call_form(**extra: str) -> dict[str, str]:
    base = {
        "CallSid": CALL,
        "AccountSid": "AC" + "1" * 32,
        "From": "+14155550100",
        "To": "+15550001111",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "CallerName": "Ada Lovelace",
    }
    return {**base, **extra}


def test_an_incoming_call_is_normalized() -> None:
    c = parse_voice_webhook(call_form())
    assert (c.channel, c.provider_ref, c.sender, c.recipient, c.sender_name) == (
        "voice",
        CALL,
        "+14155550100",
        "+15550001111",
        "Ada Lovelace",
    )
    assert c.meta["call_status"] == "ringing" and c.meta["direction"] == "inbound"


@pytest.mark.parametrize("bad", [{"CallSid": ""}, {"CallSid": "C" * 65}, {"From": ""}])
def test_a_call_without_sid_or_caller_raises(bad: dict[str, str]) -> None:
    with pytest.raises(ChannelError):
        parse_voice_webhook(call_form(**bad))


def test_caller_names_are_bounded() -> None:
    assert len(parse_voice_webhook(call_form(CallerName="x" * 5000)).sender_name) == 200


@pytest.mark.parametrize("status", sorted(CALL_STATUSES))
def test_every_call_status_is_accepted(status: str) -> None:
    s = parse_voice_status({"CallSid": CALL, "CallStatus": status, "CallDuration": "42"})
    assert (s.call_sid, s.status, s.duration_s) == (CALL, status, 42)


def test_ended_statuses_are_a_subset() -> None:
    assert ENDED < CALL_STATUSES and "in-progress" not in ENDED


@pytest.mark.parametrize(
    "bad",
    [
        {"CallSid": CALL, "CallStatus": "exploded"},
        {"CallSid": CALL},
        {"CallStatus": "completed"},
        {"CallSid": CALL, "CallStatus": "completed", "CallDuration": "ten"},
    ],
)
def test_bad_status_callbacks_raise(bad: dict[str, str]) -> None:
    with pytest.raises(ChannelError):
        parse_voice_status(bad)


def test_a_missing_duration_is_none() -> None:
    assert parse_voice_status({"CallSid": CALL, "CallStatus": "busy"}).duration_s is None


def test_wait_figures_are_parsed() -> None:
    w = parse_wait({"QueuePosition": "3", "QueueTime": "75", "CurrentQueueSize": "9"})
    assert (w.queue_position, w.queue_time_s, w.current_queue_size) == (3, 75, 9)
    empty = parse_wait({})
    assert (empty.queue_position, empty.queue_time_s, empty.current_queue_size) == (None,) * 3
    assert parse_wait({"QueueTime": "-5"}).queue_time_s == 0


@pytest.mark.parametrize(
    "bad",
    [{"QueuePosition": "first"}, {"QueueTime": "1e3"}, {"CurrentQueueSize": "9" * 5000}],
)
def test_garbage_wait_figures_raise(bad: dict[str, str]) -> None:
    with pytest.raises(ChannelError):
        parse_wait(bad)


def test_enqueue_says_the_greeting_then_enqueues_with_a_wait_url() -> None:
    url = "https://hub.example.com/webhooks/twilio/voice/wait?a=1&b=2"
    root = parse(enqueue_twiml("Welcome!", "support", url, "de-DE"))
    assert [el.tag for el in root] == ["Say", "Enqueue"]
    say, enqueue = root
    assert (say.text, say.get("language")) == ("Welcome!", "de-DE")
    assert (enqueue.text, enqueue.get("waitUrl"), enqueue.get("waitUrlMethod")) == (
        "support",
        url,
        "POST",
    )


@pytest.mark.parametrize(
    ("wait_s", "sentence"),
    [
        (None, "You are number 2 in line."),
        (20.0, "You are number 2 in line. The estimated wait is about 1 minute."),
        (185.0, "You are number 2 in line. The estimated wait is about 3 minutes."),
    ],
)
def test_wait_announces_position_and_estimate(wait_s: float | None, sentence: str) -> None:
    root = parse(wait_twiml(2, wait_s, "https://cdn.example.com/hold.mp3", "en-US"))
    assert [el.tag for el in root] == ["Say", "Play"]
    assert root[0].text == sentence
    assert root[1].text == "https://cdn.example.com/hold.mp3"


@pytest.mark.parametrize(
    ("position", "wait_s", "language", "sentence", "voice"),
    [
        (
            3,
            185.0,
            "de-DE",
            "Sie sind an Position 3 der Warteschlange. Die geschätzte Wartezeit "
            "beträgt etwa 3 Minuten.",
            "de-DE",
        ),
        (3, 20.0, "zh-CN", "您前面还有2位客户。预计等待时间约1分钟。", "zh-CN"),
        (1, None, "zh-CN", "您是下一位。", "zh-CN"),
        (2, None, "fi-FI", "You are number 2 in line.", "en-US"),  # no Finnish words: English
    ],
)
def test_wait_is_announced_in_the_queue_language(
    position: int, wait_s: float | None, language: str, sentence: str, voice: str
) -> None:
    root = parse(wait_twiml(position, wait_s, "", language))
    assert root[0].text == sentence and root[0].get("language") == voice


@pytest.mark.parametrize(
    ("queue_language", "voice"),
    [(None, "en-GB"), ("de", "de-DE"), ("zh", "zh-CN"), ("zh-CN", "zh-CN"), ("xx", "en-GB")],
)
def test_say_language_from_a_queue_language(queue_language: str | None, voice: str) -> None:
    assert say_language(queue_language, "en-GB") == voice


def test_wait_figures_are_numbers_or_a_channel_error() -> None:
    assert parse_wait({"QueuePosition": "4", "QueueTime": "30"}).queue_position == 4
    with pytest.raises(ChannelError):
        parse_wait({"QueuePosition": "four"})


def test_wait_without_position_or_music_just_pauses() -> None:
    root = parse(wait_twiml(None, None, "", "en-US"))
    assert [el.tag for el in root] == ["Pause"]
    assert int(root[0].get("length") or 0) > 0


def test_dial_an_agents_client_or_phone() -> None:
    root = parse(dial_agent_twiml(client_identity="alice", phone="+1555", caller_id=None))
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") is None
    assert [(el.tag, el.text) for el in dial] == [("Client", "alice")]
    root = parse(dial_agent_twiml(client_identity=None, phone="+15550002222", caller_id="+1555"))
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == "+1555"
    assert [(el.tag, el.text) for el in dial] == [("Number", "+15550002222")]


@pytest.mark.parametrize(("client", "phone"), [(None, None), ("", "")])
def test_dial_needs_a_client_or_a_phone(client: str | None, phone: str | None) -> None:
    with pytest.raises(ChannelError):
        dial_agent_twiml(client_identity=client, phone=phone, caller_id=None)


@pytest.mark.parametrize(("reason", "expected"), [("busy", "busy"), ("blocked", "rejected")])
def test_reject(reason: str, expected: str) -> None:
    root = parse(reject_twiml(reason))
    assert [(el.tag, el.get("reason")) for el in root] == [("Reject", expected)]
    assert parse(reject_twiml())[0].get("reason") == "busy"


def test_closed_message_then_hangup() -> None:
    root = parse(hangup_twiml("We are closed.", "en-GB"))
    assert [(el.tag, el.text) for el in root] == [("Say", "We are closed."), ("Hangup", None)]


def test_voicemail_records_to_the_action_url() -> None:
    root = parse(voicemail_twiml("Leave a message.", "https://hub.example.com/rec", "en-US"))
    assert [el.tag for el in root] == ["Say", "Record", "Say"]
    assert root[1].get("action") == "https://hub.example.com/rec"
    assert root[1].get("method") == "POST"


def test_caller_supplied_markup_is_escaped_not_interpreted() -> None:
    contact = parse_voice_webhook(call_form(CallerName=HOSTILE))
    assert contact.sender_name == HOSTILE  # stored as given; escaping happens on output
    twiml = enqueue_twiml(f"Hello {contact.sender_name}", "support", "https://h/w", "en-US")
    assert "<Say>pwned" not in twiml and "&lt;Say&gt;pwned&lt;/Say&gt;" in twiml
    root = parse(twiml)
    assert [el.tag for el in root] == ["Say", "Enqueue"]  # no injected <Dial>
    assert root[0].text == f"Hello {HOSTILE}"


def test_agent_identities_are_escaped_too() -> None:
    root = parse(dial_agent_twiml(client_identity=HOSTILE, phone=None, caller_id='"><x'))
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == '"><x'
    assert [(el.tag, el.text) for el in dial] == [("Client", HOSTILE)]
