"""Web chat: signed visitor sessions, website identity hashes, and the channel's sender.

A visitor's session token is `<visitor id>.<expiry>.<HMAC>`; a website asserting a logged-in
customer signs `<customer id>:<expiry>` with the shared identity secret (HMAC-SHA256, hex).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from channels.base import (
    Attachment,
    ChannelError,
    InboundContact,
    OutboundMessage,
    SendResult,
    same_secret,
)

CHAT_NS = "/chat"


def _sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def new_session(secret: str, ttl_s: int, now: float | None = None) -> tuple[str, str]:
    """(visitor id, token)."""
    visitor = secrets.token_hex(12)
    expires = int((now if now is not None else time.time()) + ttl_s)
    body = f"{visitor}.{expires}"
    return visitor, f"{body}.{_sign(secret, 'chat-session:' + body)}"


def read_session(secret: str, token: object, now: float | None = None) -> str | None:
    """The visitor id of a valid, unexpired token; None for anything else."""
    if not isinstance(token, str) or len(token) > 200 or token.count(".") != 2:
        return None
    visitor, expires, signature = token.split(".")
    body = f"{visitor}.{expires}"
    if not same_secret(_sign(secret, "chat-session:" + body), signature):
        return None
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return None
    return visitor


def identity_hash(secret: str, customer_id: str, expires: int) -> str:
    """What a website computes server-side to vouch for its logged-in customer."""
    return _sign(secret, f"{customer_id}:{expires}")


def verified_customer(secret: str, claim: object, now: float | None = None) -> str | None:
    """The website's customer id when the claim {id, expires, hash} is valid and unexpired."""
    if not isinstance(claim, dict):
        return None
    customer_id, expires, given = claim.get("id"), claim.get("expires"), claim.get("hash")
    if not isinstance(customer_id, str) or not 0 < len(customer_id) <= 100:
        return None
    if not isinstance(expires, int) or expires < (now if now is not None else time.time()):
        return None
    if not isinstance(given, str):
        return None
    return customer_id if same_secret(identity_hash(secret, customer_id, expires), given) else None


@dataclass(frozen=True, slots=True)
class Visitor:
    visitor_id: str
    identity_kind: str  # chat (anonymous visitor) | external (website-verified customer)
    identity: str
    name: str = ""
    email: str = ""
    phone: str = ""


def visitor_room(identity: str) -> str:
    return f"visitor:{identity}"


CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def chat_contact(
    visitor: Visitor, body: str, *, max_chars: int, client_id: str | None = None
) -> InboundContact:
    """`client_id`: the widget's id for this message, kept across resends, so a message that
    was stored but whose ack was lost (or said "retry") is stored once however often it is sent.
    Scoped to the visitor: one visitor's ids can never match another's messages."""
    text = (body or "").strip()
    if not text:
        raise ChannelError("the message is empty")
    if len(text) > max_chars:
        raise ChannelError(f"messages are at most {max_chars} characters")
    if client_id is not None and not CLIENT_ID.match(client_id):
        raise ChannelError("a message id is 8-64 letters, digits, - or _")
    ref = f"{visitor.visitor_id}:{client_id}" if client_id else secrets.token_hex(12)
    return InboundContact(
        channel="chat",
        provider_ref=f"chat:{ref}",
        sender=visitor.identity,
        sender_name=visitor.name[:200],
        body=text,
        meta={
            "identity_kind": visitor.identity_kind,
            "visitor_id": visitor.visitor_id,
            "contact_email": visitor.email[:320],
            "contact_phone": visitor.phone[:64],
        },
    )


# What a widget may upload, recognised by the file's first bytes (never by its name or the
# type the browser claims).
UPLOAD_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
    (b"%PDF-", "application/pdf", ".pdf"),
)


def sniff_upload(data: bytes) -> tuple[str, str]:
    """(content type, extension) from magic bytes; ChannelError for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    for magic, content_type, ext in UPLOAD_TYPES:
        if data.startswith(magic):
            return content_type, ext
    raise ChannelError("only images (PNG, JPEG, GIF, WebP) and PDF files can be sent")


def upload_contact(visitor: Visitor, filename: str, data: Any, *, max_bytes: int) -> InboundContact:
    """A file from the widget as a chat message with one attachment."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise ChannelError("the file is empty")
    if len(data) > max_bytes:
        raise ChannelError(f"files are at most {max_bytes // 1_000_000} MB")
    content_type, ext = sniff_upload(bytes(data))
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:120] or "file"
    if not name.lower().endswith(ext) and not (ext == ".jpg" and name.lower().endswith(".jpeg")):
        name += ext  # the stored name always says what the file really is
    return InboundContact(
        channel="chat",
        provider_ref=f"chat:{secrets.token_hex(12)}",
        sender=visitor.identity,
        sender_name=visitor.name[:200],
        body=f"📎 {name}",
        attachments=(
            Attachment(filename=name, content_type=content_type, size=len(data), data=bytes(data)),
        ),
        meta={
            "identity_kind": visitor.identity_kind,
            "visitor_id": visitor.visitor_id,
            "contact_email": visitor.email[:320],
            "contact_phone": visitor.phone[:64],
        },
    )


class Emitter(Protocol):
    async def emit(
        self, event: str, data: Any = None, *, room: str | None = None, namespace: str | None = None
    ) -> None: ...


class WebChatChannel:
    """The `chat` channel's sender: an agent's reply goes to the visitor's room (any node)."""

    name = "chat"

    def __init__(self, sio: Emitter) -> None:
        self.sio = sio

    async def send(self, message: OutboundMessage) -> SendResult:
        await self.sio.emit(
            "message",
            {
                "id": message.message_id,
                "body": message.body,
                "direction": "out",
                "author": message.meta.get("author", ""),
                "at": message.meta.get("at", ""),
            },
            room=visitor_room(message.to),
            namespace=CHAT_NS,
        )
        return SendResult(provider_ref=f"chat:{message.message_id}", status="delivered")
