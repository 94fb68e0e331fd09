"""Send email replies over SMTP with aiosmtplib (reused connections); map SMTP replies to
permanent/temporary errors."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib

from channels.base import OutboundMessage, SendError, SendResult
from channels.email_compose import compose_reply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """`[email.smtp]` in the config; `starttls` upgrades a plain connection, `use_tls` is SMTPS."""

    host: str = "localhost"
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)  # never in logs or reprs
    starttls: bool = True
    use_tls: bool = False
    from_addr: str = ""
    timeout_s: float = 30.0

    @property
    def domain(self) -> str:
        """Right-hand side of our Message-IDs: the sending domain, like real mail clients."""
        return parseaddr(self.from_addr)[1].rpartition("@")[2] or self.host


class SmtpSender:
    """Sends over reused connections: a burst of replies (B5: 5,000) paid a TCP connect, EHLO
    (and STARTTLS, login) per mail, half of the email send time.

    Idle connections are kept for `idle_s` only (servers close idle ones after minutes), one the
    server has closed is never reused, and any failure but an SMTP reply closes the connection.
    A reused connection found closed at send time is replaced once, at once: that is the
    relay's "network error: try again" without its backoff (same Message-ID either way)."""

    name = "email"

    def __init__(
        self, settings: SmtpSettings, *, idle_s: float = 10.0, mails_per_connection: int = 100
    ) -> None:
        self.settings = settings
        self.idle_s = idle_s
        self.mails_per_connection = mails_per_connection
        self._idle: list[_Pooled] = []
        self._local_hostname: str | None = None  # getfqdn() once, not per connection

    async def send(self, message: OutboundMessage) -> SendResult:
        s = self.settings
        msg = compose_reply(message, from_addr=s.from_addr, domain=s.domain)
        message_id = str(msg["Message-ID"]).strip("<>")
        sender = parseaddr(str(msg["From"]))[1]
        recipient = parseaddr(str(msg["To"]))[1]
        try:
            await self._deliver(msg, sender, recipient)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [451]
            raise _send_error(max(codes), "; ".join(r.message for r in exc.recipients)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _send_error(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("smtp send to %s:%s failed: %s", s.host, s.port, type(exc).__name__)
            raise SendError(f"SMTP connection failed: {type(exc).__name__}") from exc
        return SendResult(provider_ref=message_id)

    async def close(self) -> None:
        """QUIT the idle connections (at shutdown)."""
        idle, self._idle = self._idle, []
        for pooled in idle:
            with contextlib.suppress(Exception):
                await pooled.smtp.quit(timeout=2)
            pooled.smtp.close()

    async def _deliver(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        pooled = self._take()
        if pooled is not None:
            try:
                await self._send_on(pooled, msg, sender, recipient)
                return
            except aiosmtplib.SMTPServerDisconnected:
                log.info("smtp server had closed an idle connection; reconnecting")
        await self._send_on(await self._connect(), msg, sender, recipient)

    async def _send_on(
        self, pooled: _Pooled, msg: EmailMessage, sender: str, recipient: str
    ) -> None:
        try:
            await pooled.smtp.send_message(msg, sender=sender, recipients=[recipient])
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException):
            await self._give_back(pooled)  # a refusal leaves it usable (sendmail sent RSET)
            raise
        except BaseException:
            pooled.smtp.close()
            raise
        await self._give_back(pooled)

    def _take(self) -> _Pooled | None:
        now = time.monotonic()
        while self._idle:
            pooled = self._idle.pop()
            if pooled.smtp.is_connected and now - pooled.since < self.idle_s:
                return pooled
            pooled.smtp.close()
        return None

    async def _give_back(self, pooled: _Pooled) -> None:
        pooled.sent += 1
        if not pooled.smtp.is_connected or pooled.sent >= self.mails_per_connection:
            await _quit(pooled.smtp)
            return
        pooled.since = time.monotonic()
        self._idle.append(pooled)

    async def _connect(self) -> _Pooled:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password or None,
            use_tls=s.use_tls,
            start_tls=s.starttls and not s.use_tls,
            timeout=s.timeout_s,
            local_hostname=self._local_hostname,
        )
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        self._local_hostname = smtp.local_hostname
        return _Pooled(smtp, time.monotonic())


@dataclass(slots=True)
class _Pooled:
    smtp: aiosmtplib.SMTP
    since: float  # when it was last used
    sent: int = 0  # mails sent over it, refused ones included


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """Say goodbye to a connection that has carried its share of mails (or is already gone)."""
    try:
        if smtp.is_connected:
            await smtp.quit(timeout=2)
    except Exception:
        log.debug("smtp QUIT failed", exc_info=True)
    finally:
        smtp.close()


def _send_error(code: int, text: str) -> SendError:
    """5xx: the server will never accept this (bad mailbox, policy); 4xx: try again later."""
    permanent = 500 <= code < 600
    log.warning("smtp rejected message: %s %s", code, text[:200])
    return SendError(f"SMTP {code}: {text[:200]}", permanent=permanent, code=str(code))
