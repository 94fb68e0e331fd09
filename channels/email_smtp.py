"""Send email replies over SMTP with aiosmtplib; map SMTP replies to permanent/temporary errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
    """One connection per send: replies are rare and a pooled connection would go stale."""

    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, message: OutboundMessage) -> SendResult:
        s = self.settings
        msg = compose_reply(message, from_addr=s.from_addr, domain=s.domain)
        message_id = str(msg["Message-ID"]).strip("<>")
        sender = parseaddr(str(msg["From"]))[1]
        recipient = parseaddr(str(msg["To"]))[1]
        try:
            await aiosmtplib.send(
                msg,
                sender=sender,
                recipients=[recipient],
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password or None,
                use_tls=s.use_tls,
                start_tls=s.starttls and not s.use_tls,
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients] or [451]
            raise _send_error(max(codes), "; ".join(r.message for r in exc.recipients)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _send_error(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("smtp send to %s:%s failed: %s", s.host, s.port, type(exc).__name__)
            raise SendError(f"SMTP connection failed: {type(exc).__name__}") from exc
        return SendResult(provider_ref=message_id)


def _send_error(code: int, text: str) -> SendError:
    """5xx: the server will never accept this (bad mailbox, policy); 4xx: try again later."""
    permanent = 500 <= code < 600
    log.warning("smtp rejected message: %s %s", code, text[:200])
    return SendError(f"SMTP {code}: {text[:200]}", permanent=permanent, code=str(code))
