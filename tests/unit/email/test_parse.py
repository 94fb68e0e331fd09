"""parse_email over a corpus of real-world-shaped messages, plus the edge cases that bite."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.base import ChannelError
from channels.email_parse import parse_email
from channels.email_text import html_to_text, split_quoted
from tests.unit.email.conftest import CORPUS

Load = Callable[[str], bytes]

# file -> expected fields (only what that file is about).
EXPECTED: dict[str, dict[str, Any]] = {
    "01_plain.eml": {
        "provider_ref": "CAF=plain-0001@mail.example.com",
        "sender": "jane.doe@example.com",
        "sender_name": "Jane Doe",
        "recipient": "support@crmhub.test",
        "subject": "Order #1234 has not arrived",
        "received_at": datetime(2024, 1, 8, 9, 15, tzinfo=UTC),
    },
    "02_html_only.eml": {"sender_name": "Bob Stone", "subject": "Refund request"},
    "03_multipart_alternative.eml": {"body": "Can I switch my subscription to yearly billing?"},
    "06_rfc2047_utf8.eml": {
        "sender_name": "Jürgen Müller",
        "subject": "Rückfrage zur Lieferung ✓",
        "body": "Grüße aus München! Wann kommt meine Bestellung?",
    },
    "07_rfc2047_latin1.eml": {
        "sender_name": "François Lefèvre",
        "subject": "Problème de facturation",
        "body": "Bonjour, ma facture est erronée. Merci de vérifier.",
    },
    "08_quoted_printable.eml": {
        "body": "This is a fairly long line that a mail client wrapped with soft line breaks,"
        " and it costs 10 € per month = too much."
    },
    "09_base64_body.eml": {"body": "My password reset link does not work. ¿Ayuda?"},
    "10_bad_charset.eml": {
        "sender_name": "Gréta",
        "body": "Café order: the price was wrong é (stray latin-1 byte).",
    },
    "11_reply_gmail.eml": {
        "body": "Thanks, the parcel arrived today!",
        "thread_refs": ("agent-reply-1@crmhub.test", "CAF=plain-0001@mail.example.com"),
    },
    "12_reply_outlook.eml": {
        "sender": "kim.henderson@corp.example",
        "sender_name": "Henderson, Kim",
        "body": "Please go ahead with the renewal for 12 months.\n\nKim",
        "thread_refs": ("agent-0012@crmhub.test",),
    },
    "14_autoreply.eml": {"thread_refs": ("agent-0014@crmhub.test",)},
    "17_missing_date.eml": {"received_at": None},
    "21_html_reply_blockquote.eml": {
        "body": "Yes, please cancel it.",
        "thread_refs": ("agent-0021@crmhub.test", "first-0021@example.com"),
    },
}
AUTO = {"13_bounce.eml": "bounce", "14_autoreply.eml": "autoreply", "15_mailing_list.eml": "bulk"}


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 15


def test_every_corpus_message_normalizes(eml: tuple[str, bytes]) -> None:
    name, raw = eml
    contact = parse_email(raw)
    assert contact.channel == "email"
    assert contact.provider_ref and "<" not in contact.provider_ref
    assert "@" in contact.sender and contact.sender == contact.sender.lower()
    assert contact.recipient == "support@crmhub.test"
    assert contact.body.strip()
    assert len(contact.body) <= 10000
    assert contact.received_at is None or contact.received_at.tzinfo is not None
    json.dumps(contact.meta)  # JSON-safe: stored as-is by the hub
    assert contact.meta.get("auto") == AUTO.get(name)
    for field, value in EXPECTED.get(name, {}).items():
        assert getattr(contact, field) == value, field


def test_html_only_is_rendered_without_markup_or_scripts(load_eml: Load) -> None:
    body = parse_email(load_eml("02_html_only.eml")).body
    assert "I would like a refund for invoice & order 5678 — the item was broken." in body
    assert "- Item: Kettle" in body and "49\xa0EUR" in body
    for banned in ("<", "alert", "color: red", "Ignore me"):
        assert banned not in body


def test_reply_history_moves_to_meta_quoted(load_eml: Load) -> None:
    gmail = parse_email(load_eml("11_reply_gmail.eml"))
    assert gmail.meta["quoted"].startswith("On Wed, Jan 17, 2024 at 4:12 PM")
    assert "your parcel is on its way" in gmail.meta["quoted"]
    outlook = parse_email(load_eml("12_reply_outlook.eml"))
    assert outlook.meta["quoted"].startswith("-----Original Message-----")
    assert "Shall we renew?" in outlook.meta["quoted"]
    html = parse_email(load_eml("21_html_reply_blockquote.eml"))
    assert "Shall we cancel the order?" in html.meta["quoted"]


def test_attachments_keep_bytes_type_and_safe_names(load_eml: Load) -> None:
    (pdf,) = parse_email(load_eml("04_attachment_pdf.eml")).attachments
    assert (pdf.filename, pdf.content_type) == ("INV-2024-001.pdf", "application/pdf")
    assert pdf.data is not None and pdf.data.startswith(b"%PDF") and pdf.size == len(pdf.data)
    (inline,) = parse_email(load_eml("05_inline_image.eml")).attachments
    assert inline.content_type == "image/png" and inline.data is not None
    assert inline.data.startswith(b"\x89PNG")
    (jpeg,) = parse_email(load_eml("20_image_attachment_rfc2231.eml")).attachments
    assert jpeg.filename == "skadad låda.jpg"  # RFC 2231 decoded, "../" path stripped


def test_attachment_over_the_limit_is_listed_without_data(load_eml: Load) -> None:
    contact = parse_email(load_eml("04_attachment_pdf.eml"), max_attachment_bytes=10)
    (pdf,) = contact.attachments
    assert pdf.data is None and pdf.size > 10
    assert contact.meta["attachments_skipped"] == ["INV-2024-001.pdf"]


def test_bounce_details_are_extracted(load_eml: Load) -> None:
    contact = parse_email(load_eml("13_bounce.eml"))
    assert contact.meta["bounce"] == {
        "recipient": "nobody@example.invalid",
        "action": "failed",
        "status": "5.1.1",
        "diagnostic": "smtp; 550 5.1.1 User unknown",
    }
    assert contact.attachments == ()  # the report itself is not a customer file


def test_forwarded_message_is_shown_and_attached(load_eml: Load) -> None:
    contact = parse_email(load_eml("19_forwarded.eml"))
    assert contact.body.startswith("See below, is this email really from you?")
    assert "Forwarded message" in contact.body and "customs fee" in contact.body
    (eml,) = contact.attachments
    assert eml.content_type == "message/rfc822" and eml.data and b"customs fee" in eml.data


def test_long_body_is_truncated(load_eml: Load) -> None:
    contact = parse_email(load_eml("18_long_body.eml"), max_body_chars=500)
    assert len(contact.body) == 500 and contact.meta["truncated"] is True


def test_missing_message_id_gets_a_stable_hash(load_eml: Load) -> None:
    raw = load_eml("16_missing_message_id.eml")
    expected = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert parse_email(raw).provider_ref == expected == parse_email(raw).provider_ref


def test_reply_to_and_cc_go_to_meta(load_eml: Load) -> None:
    contact = parse_email(load_eml("03_multipart_alternative.eml"))
    assert contact.sender == "carla@example.org"  # From, never Reply-To
    assert contact.meta["reply_to"] == "carla.private@example.org"
    assert contact.meta["to"] == ["support@crmhub.test", "sales@crmhub.test"]
    assert contact.meta["cc"] == ["boss@example.org"]


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ("Auto-Submitted: auto-generated\n", "autoreply"),
        ("Auto-Submitted: no\n", None),
        ("Precedence: bulk\n", "bulk"),
        ("Precedence: junk\n", "bulk"),
        ("X-Autorespond: yes\n", "autoreply"),
        ("", None),
    ],
)
def test_auto_detection_headers(headers: str, auto: str | None) -> None:
    raw = f"From: a@example.com\nTo: b@example.com\n{headers}Subject: x\n\nhello\n".encode()
    assert parse_email(raw).meta.get("auto") == auto


@pytest.mark.parametrize(
    "raw", [b"", b"   \n", b"just some text\nwithout headers", b"%PDF-1.4\x00\x01\x02"]
)
def test_not_an_email_raises_channel_error(raw: bytes) -> None:
    with pytest.raises(ChannelError):
        parse_email(raw)


def test_lying_utf8_charset_is_replaced_not_raised() -> None:
    raw = b"From: a@example.com\nContent-Type: text/plain; charset=utf-8\n\nbad \xff\xfe end\n"
    assert parse_email(raw).body == "bad \ufffd\ufffd end"


def test_malformed_headers_do_not_crash() -> None:
    raw = (
        b"From: =?x-unknown?B?SGVsbG8=?= <A@Example.com>\n"
        b"Subject: =?utf-8?B?broken base64?=\n"
        b"Date: not a date\n"
        b"Message-ID: no brackets here\n"
        b"References: <ok@x> garbage <>\n\nbody\n"
    )
    contact = parse_email(raw)
    assert contact.sender == "a@example.com"
    assert contact.received_at is None
    assert contact.provider_ref.startswith("sha256:")
    assert "ok@x" in contact.thread_refs


def test_html_to_text_keeps_words_apart_and_quotes_blockquotes() -> None:
    text = html_to_text("<p>a<b>b</b> c</p><blockquote><p>old</p></blockquote><p>new</p>")
    assert text.split("\n") == ["ab c", "", "> old", "", "new"]


def test_split_quoted_keeps_everything_when_nothing_is_new() -> None:
    assert split_quoted("> only quoted\n> text") == ("> only quoted\n> text", "")
    assert split_quoted("new\n> old") == ("new", "> old")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    try:
        contact = parse_email(raw)
    except ChannelError:
        return
    json.dumps(contact.meta)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_arbitrary_header_and_body_text_never_crash(subject: str, body: str) -> None:
    raw = b"From: a@example.com\nSubject: " + subject.encode("utf-8", "surrogatepass")
    contact = parse_email(raw + b"\n\n" + body.encode("utf-8", "surrogatepass"))
    json.dumps([contact.subject, contact.body, contact.meta])


@pytest.mark.parametrize(
    ("name", "sender_name", "subject", "body"),
    [
        ("22_gb2312.eml", "王芳", "关于我的订单", "您好，我的订单还没有收到，请帮我查一下。谢谢！"),
        # Labelled GB2312, written in GBK (镕 is not in GB2312): read with the superset codec.
        (
            "23_gb2312_label_gbk_bytes.eml",
            "",
            "退款申请：镕",
            "您好，我想申请退款。订单号：20261123。朱镕基",
        ),
        ("24_gb18030.eml", "李四", "发票问题 €", "请开具发票，金额为 100 €。生僻字：䶮"),
        ("25_big5.eml", "陳大文", "請問我的訂單", "您好，請問我的訂單什麼時候會到？"),
        (
            "26_iso2022jp.eml",
            "山田太郎",
            "ご注文について",
            "お世話になっております。注文した商品がまだ届いていません。",
        ),
    ],
)
def test_chinese_and_japanese_charsets(
    load_eml: Load, name: str, sender_name: str, subject: str, body: str
) -> None:
    contact = parse_email(load_eml(name))
    assert (contact.sender_name, contact.subject, contact.body.strip()) == (
        sender_name,
        subject,
        body,
    )
    assert "\ufffd" not in contact.subject + contact.body


def test_content_hash_tells_a_refetch_from_another_mail_with_the_same_id(load_eml: Load) -> None:
    raw = load_eml("01_plain.eml")
    first, refetched = parse_email(raw), parse_email(b"X-Extra: relay\n" + raw)
    assert first.meta["content_hash"] == refetched.meta["content_hash"]
    other = parse_email(raw.replace(b"\n\n", b"\n\nP.S. one more thing\n", 1))
    assert other.provider_ref == first.provider_ref
    assert other.meta["content_hash"] != first.meta["content_hash"]
