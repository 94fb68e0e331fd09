"""compose_reply: threading headers, subject prefix, HTML alternative, header injection."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from channels.base import ChannelError, OutboundMessage
from channels.email_compose import compose_reply, find_ticket, reply_subject
from channels.email_parse import parse_email

FROM = "Crmhub Support <support@crmhub.test>"


def reply(**fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "channel": "email",
        "to": "Jane Doe <jane@example.com>",
        "body": "Hello Jane,\nyour parcel is on its way.",
        "subject": "Order #1234",
        "in_reply_to": "<CAF=reply-0011@mail.example.com>",
        "references": ("CAF=plain-0001@mail.example.com",),
    }
    values.update(fields)
    return OutboundMessage(**values)


def roundtrip(msg: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def build(message: OutboundMessage) -> EmailMessage:
    return roundtrip(compose_reply(message, from_addr=FROM, domain="crmhub.test"))


def test_threading_headers() -> None:
    msg = roundtrip(compose_reply(reply(), from_addr=FROM, domain="crmhub.test"))
    assert msg["In-Reply-To"] == "<CAF=reply-0011@mail.example.com>"
    assert str(msg["References"]).split() == [
        "<CAF=plain-0001@mail.example.com>",
        "<CAF=reply-0011@mail.example.com>",
    ]
    assert str(msg["Message-ID"]).endswith("@crmhub.test>")
    assert msg["From"] == FROM and msg["To"] == "Jane Doe <jane@example.com>"
    assert msg["Date"]
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Hello Jane,\nyour parcel is on its way.\n"


def test_the_reply_threads_when_the_customer_answers_it() -> None:
    """Our Message-ID comes back in the customer's In-Reply-To, parsed by parse_email."""
    ours = compose_reply(reply(), from_addr=FROM, domain="crmhub.test")
    answer = (
        "From: jane@example.com\nTo: support@crmhub.test\nSubject: Re: Order #1234\n"
        f"In-Reply-To: {ours['Message-ID']}\nReferences: {ours['References']} "
        f"{ours['Message-ID']}\n\nThanks!\n"
    ).encode()
    refs = parse_email(answer).thread_refs
    assert refs[0] == str(ours["Message-ID"]).strip("<>")
    assert "CAF=plain-0001@mail.example.com" in refs


def test_references_are_capped_and_deduplicated() -> None:
    previous = (*(f"m{i}@example.com" for i in range(30)), "m5@example.com")
    msg = compose_reply(
        reply(references=previous, in_reply_to="m29@example.com"),
        from_addr=FROM,
        domain="crmhub.test",
    )
    refs = str(msg["References"]).split()
    assert len(refs) == 20
    assert refs[-1] == "<m29@example.com>" and refs[-2] == "<m5@example.com>"
    assert len(set(refs)) == 20


def test_given_message_id_is_used() -> None:
    msg = compose_reply(reply(message_id="out-42@crmhub.test"), from_addr=FROM, domain="x")
    assert msg["Message-ID"] == "<out-42@crmhub.test>"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order #1234", "Re: Order #1234"),
        ("Re: Order #1234", "Re: Order #1234"),
        ("RE: Order", "RE: Order"),
        ("AW: Bestellung", "AW: Bestellung"),
        ("Re[2]: Order", "Re[2]: Order"),
        ("Ordering re: stock", "Re: Ordering re: stock"),
        ("", "Re:"),
    ],
)
def test_re_prefix_added_once(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected
    msg = compose_reply(reply(subject=subject), from_addr=FROM, domain="crmhub.test")
    assert msg["Subject"] == expected


def test_new_conversation_has_no_re_and_no_threading() -> None:
    msg = compose_reply(
        reply(in_reply_to="", references=(), subject="Your invoice"),
        from_addr=FROM,
        domain="crmhub.test",
    )
    assert msg["Subject"] == "Your invoice"
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_html_alternative_is_sanitized() -> None:
    html = '<p onclick="x()">Hi <b>Jane</b></p><script>alert(1)</script>'
    msg = roundtrip(compose_reply(reply(meta={"html": html}), from_addr=FROM, domain="d.test"))
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    rich = msg.get_body(("html",))
    assert plain is not None and rich is not None
    assert "your parcel" in plain.get_content()
    assert "<b>Jane</b>" in rich.get_content()
    assert "script" not in rich.get_content() and "onclick" not in rich.get_content()


def test_message_from_overrides_the_default_sender() -> None:
    msg = compose_reply(reply(from_="billing@crmhub.test"), from_addr=FROM, domain="d.test")
    assert msg["From"] == "billing@crmhub.test"


def test_non_ascii_names_and_body_are_encoded() -> None:
    msg = compose_reply(
        reply(to="Jürgen Müller <juergen@example.de>", body="Grüße ✓", subject="Lieferung"),
        from_addr=FROM,
        domain="crmhub.test",
    )
    raw = msg.as_bytes()
    assert raw.isascii()
    parsed = roundtrip(msg)
    assert parsed["To"] == "Jürgen Müller <juergen@example.de>"
    assert parsed.get_content() == "Grüße ✓\n"


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nX-Evil: 1"},
        {"to": "jane@example.com\nBcc: victim@example.com"},
        {"to": "jane@example.com, other@example.com"},
        {"to": "not-an-address"},
        {"to": ""},
        {"from_": "support@crmhub.test\r\nBcc: x@example.com"},
        {"in_reply_to": "<a@b>\r\nBcc: x@example.com"},
        {"message_id": "has space@crmhub.test"},
    ],
)
def test_header_injection_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ChannelError):
        compose_reply(reply(**fields), from_addr=FROM, domain="crmhub.test")


def test_broken_historic_reference_is_skipped_not_fatal() -> None:
    msg = compose_reply(
        reply(references=("ok@example.com", "bad\nid", "no-at-sign")),
        from_addr=FROM,
        domain="crmhub.test",
    )
    assert str(msg["References"]).split() == [
        "<ok@example.com>",
        "<CAF=reply-0011@mail.example.com>",
    ]


def test_ticket_token_quote_and_loop_header() -> None:
    msg = build(
        reply(
            meta={
                "ticket": "T-0123456789",
                "quote": {
                    "author": "Jane Doe",
                    "at": "Mon, 23 Nov 2026 at 09:00 UTC",
                    "body": "Where is it?\n\nThanks",
                },
            }
        )
    )
    assert msg["Subject"] == "Re: Order #1234 [#T-0123456789]"
    assert msg["X-Crmhub-Loop"] == "crmhub.test"
    assert msg.get_content().splitlines() == [
        "Hello Jane,",
        "your parcel is on its way.",
        "",
        "On Mon, 23 Nov 2026 at 09:00 UTC, Jane Doe wrote:",
        "> Where is it?",
        ">",
        "> Thanks",
    ]
    # A subject that already carries the token keeps one; reading our own mail back is "own".
    again = build(reply(subject="Re: Order #1234 [#T-0123456789]", meta={"ticket": "T-0123456789"}))
    assert again["Subject"].count("T-0123456789") == 1
    assert parse_email(again.as_bytes()).meta["auto"] == "own"
    assert find_ticket(again["Subject"]) == "T-0123456789"
    assert find_ticket("Re: [#T-XYZ] nothing") is None


def test_the_cached_header_classes_compose_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose_reply's policy only caches the stdlib's header classes: same mail as stock."""
    import channels.email_compose as compose

    message = reply(
        to="Zoë Ünal <zoe@example.com>",
        body="Grüße\nà bientôt",
        meta={"ticket": "T-0123456789", "quote": {"author": "Zoë", "at": "today", "body": "où?"}},
        message_id="out-1@crmhub.test",
    )

    def smtp_bytes() -> bytes:
        msg = compose_reply(message, from_addr=FROM, domain="crmhub.test")
        msg.replace_header("Date", "Mon, 23 Nov 2026 09:00:00 +0000")
        return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))

    ours = smtp_bytes()
    monkeypatch.setattr(compose, "POLICY", policy.default)
    assert ours == smtp_bytes()
