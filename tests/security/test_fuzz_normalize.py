"""Hypothesis over every channel's normalize function: whatever a provider, a PBX, a mail server
or a visitor sends, the adapter returns a bounded contact or raises ChannelError (a 4xx at the
edge), never anything else; TwiML built from hostile text stays well-formed XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.base import ChannelError, InboundContact
from channels.cti import parse_cti
from channels.email_parse import parse_email
from channels.twilio_sms import parse_sms_status, parse_sms_webhook
from channels.twilio_voice import (
    enqueue_twiml,
    hangup_twiml,
    parse_recording,
    parse_voice_status,
    parse_voice_webhook,
    parse_wait,
    voicemail_twiml,
    wait_twiml,
)
from channels.web_chat import (
    Visitor,
    chat_contact,
    read_session,
    upload_contact,
    verified_customer,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOSTILE = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "<script>alert(1)</script>",
            "]]></Say><Dial>+1900</Dial><Say>",
            "+1 (415) 555-0100",
            "+999999999999999999999",
            "sip:alice@pbx",
            "client:alice",
            "‮evil",
            "x" * 5000,
            "-1",
            "9" * 40,
            "NaN",
        ]
    ),
)
TWILIO_KEYS = [
    "MessageSid",
    "SmsSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "MessageStatus",
    "ErrorCode",
    "CallSid",
    "CallStatus",
    "CallDuration",
    "Direction",
    "CallerName",
    "QueuePosition",
    "QueueTime",
    "CurrentQueueSize",
    "RecordingUrl",
    "RecordingDuration",
]
FORMS = st.dictionaries(st.one_of(st.sampled_from(TWILIO_KEYS), st.text(max_size=20)), HOSTILE)


def only_channel_errors(parse: Callable[[Any], Any], payload: Any) -> Any:
    try:
        return parse(payload)
    except ChannelError:
        return None


def check_contact(contact: InboundContact | None, max_body: int = 10_000) -> None:
    if contact is None:
        return
    assert isinstance(contact, InboundContact)
    assert len(contact.body) <= max_body
    assert len(contact.sender) <= 400 and len(contact.provider_ref) <= 1000


@FUZZ
@given(FORMS)
def test_twilio_forms(form: Mapping[str, str]) -> None:
    check_contact(only_channel_errors(lambda f: parse_sms_webhook(f, max_body_chars=1600), form))
    check_contact(only_channel_errors(parse_voice_webhook, form))
    for parse in (parse_sms_status, parse_voice_status, parse_wait, parse_recording):
        only_channel_errors(parse, form)


CTI_KEYS = [
    "event",
    "direction",
    "callId",
    "from",
    "to",
    "user",
    "user[]",
    "queue",
    "answeringNumber",
    "cause",
]
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), HOSTILE),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    st.dictionaries(st.sampled_from(CTI_KEYS), JSONISH),
    st.sampled_from(["newCall", "answer", "hangup"]),
    st.sampled_from(["in", "out"]),
)
def test_cti_payloads(payload: dict[str, Any], event: str, direction: str) -> None:
    only_channel_errors(parse_cti, payload)
    valid = {**payload, "event": event, "direction": direction, "callId": "c1"}
    parsed = only_channel_errors(parse_cti, valid)
    if parsed is not None:
        assert len(parsed.users) <= 20 and len(parsed.from_) <= 64


# What str.splitlines() splits on cannot be in a header value we build (email refuses it).
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
HEADER_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=LINE_BREAKS),
    max_size=200,
)


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_as_mail(raw: bytes) -> None:
    check_contact(only_channel_errors(parse_email, raw))


@FUZZ
@given(
    HEADER_TEXT,
    HEADER_TEXT,
    st.text(max_size=2000),
    st.sampled_from(["utf-8", "latin-1", "gb2312", "big5", "iso-2022-jp", "x-unknown"]),
    st.binary(max_size=500),
)
def test_well_formed_mail_with_hostile_parts(
    name: str, subject: str, body: str, charset: str, attachment: bytes
) -> None:
    msg = EmailMessage()
    msg["From"] = f'"{name}" <someone@example.com>' if '"' not in name else "x@example.com"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg.set_content(body)
    msg.add_attachment(
        attachment, maintype="application", subtype="octet-stream", filename=name or "f"
    )
    raw = msg.as_bytes().replace(b"utf-8", charset.encode())
    contact = only_channel_errors(lambda r: parse_email(r, max_body_chars=1000), raw)
    check_contact(contact, max_body=1000)
    if contact is not None:
        assert len(contact.subject) <= 998


def test_a_cut_iso_2022_jp_filename_is_unreadable_mail_not_a_crash() -> None:
    """Found by the test above: the stdlib raised UnicodeDecodeError from get_body()."""
    msg = EmailMessage()
    msg["From"] = "someone@example.com"
    msg["Subject"] = "x"
    msg.set_content("hello")
    msg.add_attachment(b"x", maintype="application", subtype="pdf", filename="é.pdf")
    raw = msg.as_bytes().replace(b"utf-8''", b"iso-2022-jp''%1B%24")
    try:
        parse_email(raw)
    except ChannelError as exc:
        assert "unreadable" in str(exc)


VISITOR = Visitor(visitor_id="v1", identity_kind="chat", identity="v-v1")


@FUZZ
@given(HOSTILE, st.text(max_size=200), st.binary(max_size=300))
def test_widget_messages_uploads_and_tokens(body: str, filename: str, data: bytes) -> None:
    check_contact(only_channel_errors(lambda b: chat_contact(VISITOR, b, max_chars=2000), body))
    upload = only_channel_errors(
        lambda d: upload_contact(VISITOR, filename, d, max_bytes=200), data
    )
    if upload is not None:
        assert "/" not in upload.attachments[0].filename
    assert read_session("secret", body) is None or isinstance(read_session("secret", body), str)
    claim = {"id": body, "expires": 2**40, "hash": body}
    assert verified_customer("secret", claim) is None


@FUZZ
@given(HOSTILE, HOSTILE, st.integers(min_value=-5, max_value=10_000))
def test_twiml_from_hostile_text_is_well_formed(text: str, name: str, position: int) -> None:
    for xml in (
        enqueue_twiml(text, name, "https://hub.example/wait?q=" + name, "en"),
        wait_twiml(position, None, "", "en"),
        wait_twiml(position, 90.0, name, text),
        voicemail_twiml(text, "https://hub.example/rec", "de"),
        hangup_twiml(text, "zh"),
    ):
        root = ET.fromstring(xml)
        assert root.tag == "Response"
        assert root.find(".//Dial") is None  # text never becomes a verb
