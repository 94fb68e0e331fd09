"""Domain events: frozen, past tense, one dotted wire name each (the only place wire names live)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hub.models import new_id


@dataclass(frozen=True, kw_only=True)
class Event:
    wire: ClassVar[str] = ""
    event_id: str = field(default_factory=new_id)

    def to_wire(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict deep-copies every value (the fields are strings,
        # numbers and one tuple of strings), about 10 us per event, one or two per message.
        return {"type": self.wire, **{name: getattr(self, name) for name in _names(type(self))}}


_NAMES: dict[type, tuple[str, ...]] = {}  # event class -> its field names


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True, kw_only=True)
class InteractionReceived(Event):
    wire: ClassVar[str] = "interaction.received"
    interaction_id: str
    customer_id: str
    channel: str
    queue_id: str
    message_id: str | None = None
    new_interaction: bool = True


@dataclass(frozen=True, kw_only=True)
class InteractionQueued(Event):
    """Back in the queue (rejected, timed out, transferred, restored): routing must look again."""

    wire: ClassVar[str] = "interaction.queued"
    interaction_id: str
    queue_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class OfferMade(Event):
    wire: ClassVar[str] = "offer.made"
    offer_id: str
    interaction_id: str
    agent_id: str
    expires_at: float


@dataclass(frozen=True, kw_only=True)
class OfferRevoked(Event):
    wire: ClassVar[str] = "offer.revoked"
    offer_id: str
    interaction_id: str
    agent_id: str
    reason: str  # rejected | timeout | revoked


@dataclass(frozen=True, kw_only=True)
class InteractionAssigned(Event):
    wire: ClassVar[str] = "interaction.assigned"
    interaction_id: str
    agent_id: str


@dataclass(frozen=True, kw_only=True)
class InteractionUpdated(Event):
    wire: ClassVar[str] = "interaction.updated"
    interaction_id: str
    state: str
    agent_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageCreated(Event):
    wire: ClassVar[str] = "message.created"
    message_id: str
    interaction_id: str
    direction: str
    # The message opened its interaction in the same transaction: no console or supervisor can
    # have seen that interaction before the commit, and every payload that shows it later (an
    # offer, an assignment, a peek) reads its messages after the commit, this one included.
    opened: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageStatusChanged(Event):
    wire: ClassVar[str] = "message.status"
    message_id: str
    interaction_id: str
    status: str
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class AgentStatusChanged(Event):
    wire: ClassVar[str] = "agent.status"
    agent_id: str
    status: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CustomerUpdated(Event):
    wire: ClassVar[str] = "customer.updated"
    customer_id: str


@dataclass(frozen=True, kw_only=True)
class CallRinging(Event):
    """A PBX call rings: pop the caller's card on these agents' consoles."""

    wire: ClassVar[str] = "call.ringing"
    interaction_id: str
    agent_ids: tuple[str, ...] = ()


EVENT_TYPES: dict[str, type[Event]] = {
    cls.wire: cls
    for cls in (
        InteractionReceived,
        InteractionQueued,
        OfferMade,
        OfferRevoked,
        InteractionAssigned,
        InteractionUpdated,
        MessageCreated,
        MessageStatusChanged,
        AgentStatusChanged,
        CustomerUpdated,
        CallRinging,
    )
}


class UnknownEvent(ValueError):
    pass


def from_wire(data: dict[str, Any]) -> Event:
    kind = data.get("type")
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        raise UnknownEvent(f"unknown event type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
