"""The small contract every channel adapter implements, and the normalized values it produces."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ChannelError(Exception):
    """Untrusted input that cannot be normalized (mapped to 4xx at the edge)."""


class SignatureError(ChannelError):
    """A provider request whose signature is missing or wrong (403, nothing stored)."""


class SendError(Exception):
    """An outbound send failed; `permanent` failures are not retried, and `retry_after` is the
    provider's own Retry-After (seconds) when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    url: str | None = None  # provider-hosted (MMS media)
    data: bytes | None = field(default=None, repr=False)  # stored inline (email)


@dataclass(frozen=True, slots=True)
class InboundContact:
    """One inbound contact from any channel, normalized, not yet matched to a customer."""

    channel: str  # voice | sms | email | chat
    provider_ref: str  # MessageSid, CallSid, Message-ID, chat message id: the dedupe key
    sender: str  # raw address as the provider gave it (phone, email, chat identity)
    recipient: str = ""
    body: str = ""
    subject: str = ""
    sender_name: str = ""
    thread_refs: tuple[str, ...] = ()  # email In-Reply-To / References, ticket tokens
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # channel-specific extras, JSON-safe


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    channel: str
    to: str
    body: str
    from_: str = ""
    subject: str = ""
    message_id: str = ""  # our id, used as the idempotency key with the provider
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_ref: str  # provider's id for the sent message (Twilio SID, SMTP Message-ID)
    status: str = "sent"


class ChannelAdapter(Protocol):
    """A channel: check a provider's request, turn it into an InboundContact, send replies."""

    name: str

    async def send(self, message: OutboundMessage) -> SendResult: ...


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (a str compare_digest raises
    TypeError on it: an attacker's header must never become a 500)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "replace"), given.encode("utf-8", "replace")
    )
