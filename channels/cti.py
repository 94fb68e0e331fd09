"""Generic CTI, Zammad-compatible: parse PBX call events (form or JSON) and check the caller.

Zammad's generic CTI posts `event` (newCall / answer / hangup), `from`, `to`, `direction`
(in / out), `callId`, `user` or `user[]`, `queue`, `answeringNumber` and `cause`; it answers `{}`
or `{"action": "reject", "reason": "busy"}`. PBX scripts written for Zammad work unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.base import ChannelError, InboundContact, same_secret

EVENTS = ("newCall", "answer", "hangup")
DIRECTIONS = ("in", "out")
CAUSES = ("normalClearing", "busy", "cancel", "noAnswer", "congestion", "notFound", "forwarded")
SIGNATURE_TOLERANCE_S = 300


@dataclass(frozen=True, slots=True)
class CtiEvent:
    event: str
    call_id: str
    direction: str
    from_: str
    to: str
    users: tuple[str, ...]
    queue: str
    answering_number: str
    cause: str

    @property
    def dedupe_key(self) -> str:
        return f"{self.call_id}:{self.event}"

    @property
    def customer_number(self) -> str:
        return self.from_ if self.direction == "in" else self.to


def _text(payload: Mapping[str, Any], key: str, limit: int = 200) -> str:
    value = payload.get(key, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()[:limit]


def _users(payload: Mapping[str, Any]) -> list[Any]:
    """`user[]` (repeated) or `user`; a form multidict works unflattened too."""
    key = "user[]" if "user[]" in payload else "user"
    getall = getattr(payload, "getall", None)
    raw = getall(key, []) if callable(getall) else payload.get(key, [])
    return raw if isinstance(raw, list) else [raw] if raw else []


def parse_cti(payload: Mapping[str, Any]) -> CtiEvent:
    event = _text(payload, "event")
    if event not in EVENTS:
        raise ChannelError(f"event must be one of {', '.join(EVENTS)}")
    direction = _text(payload, "direction")
    if direction not in DIRECTIONS:
        raise ChannelError("direction must be in or out")
    call_id = _text(payload, "callId", 128)
    if not call_id:
        raise ChannelError("callId is required")
    users = _users(payload)
    cause = _text(payload, "cause", 32)
    return CtiEvent(
        event=event,
        call_id=call_id,
        direction=direction,
        from_=_text(payload, "from", 64),
        to=_text(payload, "to", 64),
        users=tuple(str(u).strip()[:100] for u in users[:20] if str(u).strip()),
        queue=_text(payload, "queue", 64),
        answering_number=_text(payload, "answeringNumber", 64),
        cause=cause if cause in CAUSES or not cause else "other",
    )


def to_contact(event: CtiEvent) -> InboundContact:
    return InboundContact(
        channel="voice",
        provider_ref=f"cti:{event.call_id}",
        sender=event.customer_number,
        recipient=event.to if event.direction == "in" else event.from_,
        body="Incoming call" if event.direction == "in" else "Outgoing call",
        meta={
            "source": "cti",
            "direction": event.direction,
            "queue": event.queue,
            "users": list(event.users),
        },
    )


def cti_token_ok(expected: str, given: str) -> bool:
    return bool(expected) and same_secret(expected, given)


def cti_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def cti_signature_ok(secret: str, header: str | None, body: bytes, now: float) -> bool:
    """`X-CTI-Signature: t=<unix time>,v1=<hex hmac-sha256(secret, t + "." + body)>`."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > SIGNATURE_TOLERANCE_S:
        return False
    return same_secret(cti_signature(secret, stamp, body), given)


CTI_OK: dict[str, str] = {}


def cti_reject(reason: str = "busy") -> dict[str, str]:
    return {"action": "reject", "reason": reason}
