"""SmtpSender against a real (aiosmtpd) SMTP server: threading, auth, 5xx vs 4xx mapping."""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from typing import Any

import pytest

from channels.base import OutboundMessage, SendError
from channels.email_smtp import SmtpSender, SmtpSettings
from tests.support.processes import free_port
from tests.support.smtp_server import RecordingSmtpServer


def settings_for(server: RecordingSmtpServer, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "starttls": False,
        "use_tls": False,
        "from_addr": "Crmhub Support <support@crmhub.test>",
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)


def reply(to: str = "jane@example.com", **fields: Any) -> OutboundMessage:
    return OutboundMessage(
        channel="email",
        to=to,
        body="Your parcel is on its way.",
        subject="Order #1234",
        in_reply_to="CAF=reply-0011@mail.example.com",
        references=("CAF=plain-0001@mail.example.com",),
        **fields,
    )


async def test_reply_is_delivered_with_threading_headers(
    smtp_server: RecordingSmtpServer,
) -> None:
    result = await SmtpSender(settings_for(smtp_server)).send(reply())
    (received,) = smtp_server.messages
    assert received.mail_from == "support@crmhub.test"
    assert received.rcpt_tos == ("jane@example.com",)
    msg = message_from_bytes(received.content, policy=policy.default)
    assert msg["Message-ID"] == f"<{result.provider_ref}>"
    assert result.provider_ref.endswith("@crmhub.test") and result.status == "sent"
    assert msg["In-Reply-To"] == "<CAF=reply-0011@mail.example.com>"
    assert str(msg["References"]).split() == [
        "<CAF=plain-0001@mail.example.com>",
        "<CAF=reply-0011@mail.example.com>",
    ]
    assert msg["Subject"] == "Re: Order #1234"


async def test_our_message_id_is_the_idempotency_key(smtp_server: RecordingSmtpServer) -> None:
    sender = SmtpSender(settings_for(smtp_server))
    result = await sender.send(reply(message_id="out-42@crmhub.test"))
    assert result.provider_ref == "out-42@crmhub.test"
    msg = message_from_bytes(smtp_server.messages[0].content, policy=policy.default)
    assert msg["Message-ID"] == "<out-42@crmhub.test>"


async def test_550_is_a_permanent_failure(smtp_server: RecordingSmtpServer) -> None:
    smtp_server.reject_with("gone@example.com", "550 5.1.1 <gone@example.com>: User unknown")
    with pytest.raises(SendError) as failed:
        await SmtpSender(settings_for(smtp_server)).send(reply(to="gone@example.com"))
    assert failed.value.permanent is True and failed.value.code == "550"
    assert smtp_server.messages == []


async def test_451_is_a_temporary_failure(smtp_server: RecordingSmtpServer) -> None:
    smtp_server.reject_with("busy@example.com", "451 4.7.1 Greylisted, try again later")
    with pytest.raises(SendError) as failed:
        await SmtpSender(settings_for(smtp_server)).send(reply(to="busy@example.com"))
    assert failed.value.permanent is False and failed.value.code == "451"


async def test_connection_refused_is_temporary(smtp_server: RecordingSmtpServer) -> None:
    settings = settings_for(smtp_server, port=free_port())  # nothing listens there
    with pytest.raises(SendError) as failed:
        await SmtpSender(settings).send(reply())
    assert failed.value.permanent is False and failed.value.code is None


async def test_login_is_used_and_the_password_never_logged(
    smtp_server_auth: RecordingSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_for(smtp_server_auth, username="mailer", password="s3cret-smtp")
    await SmtpSender(settings).send(reply())
    assert smtp_server_auth.logins == ["mailer"]
    assert len(smtp_server_auth.messages) == 1
    bad = settings_for(smtp_server_auth, username="mailer", password="wrong-pass-123")
    with pytest.raises(SendError) as failed:
        await SmtpSender(bad).send(reply())
    assert failed.value.permanent is True and failed.value.code == "535"
    assert "s3cret-smtp" not in caplog.text and "wrong-pass-123" not in caplog.text
    assert "s3cret-smtp" not in repr(settings)


async def test_a_burst_of_replies_shares_one_connection(smtp_server: RecordingSmtpServer) -> None:
    """A connect and EHLO per mail was half the email send time under a burst (B5)."""
    sender = SmtpSender(settings_for(smtp_server))
    for n in range(5):
        await sender.send(reply(to=f"c{n}@example.com"))
    assert len(smtp_server.messages) == 5
    assert smtp_server.connections == 1
    await sender.close()


async def test_a_refused_mail_leaves_the_connection_usable(
    smtp_server: RecordingSmtpServer,
) -> None:
    smtp_server.reject_with("busy@example.com", "451 4.7.1 Greylisted, try again later")
    smtp_server.reject_with("gone@example.com", "550 5.1.1 <gone@example.com>: User unknown")
    sender = SmtpSender(settings_for(smtp_server))
    with pytest.raises(SendError) as busy:
        await sender.send(reply(to="busy@example.com"))
    with pytest.raises(SendError) as gone:
        await sender.send(reply(to="gone@example.com"))
    await sender.send(reply(to="jane@example.com"))
    assert (busy.value.permanent, gone.value.permanent) == (False, True)
    assert [m.rcpt_tos for m in smtp_server.messages] == [("jane@example.com",)]
    assert smtp_server.connections == 1
    await sender.close()


async def test_a_connection_the_server_dropped_is_replaced(
    smtp_server: RecordingSmtpServer,
) -> None:
    sender = SmtpSender(settings_for(smtp_server))
    await sender.send(reply(to="first@example.com"))
    smtp_server.restart()  # the idle connection is gone
    await sender.send(reply(to="second@example.com"))
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ("first@example.com",),
        ("second@example.com",),
    ]
    assert smtp_server.connections == 2
    await sender.close()


async def test_an_idle_connection_is_not_kept_past_idle_s(
    smtp_server: RecordingSmtpServer,
) -> None:
    sender = SmtpSender(settings_for(smtp_server), idle_s=0)
    await sender.send(reply())
    await sender.send(reply())
    assert smtp_server.connections == 2
