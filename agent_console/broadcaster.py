"""Domain events -> Socket.IO emits. With Redis, AsyncRedisManager fans each emit out to every node.

The broadcaster reads the bus in two consumer groups, so each event is emitted once in the whole
cluster; the Socket.IO client manager delivers it to whichever node holds the agent's socket.
"offers" handles offers, their revocations and call pops, "console" everything else; each group
reads every event and acknowledges the others' unhandled. So after a burst a new offer does not
wait behind thousands of older assignments, wrap-ups and messages (docs/performance.md): the
offers group's backlog stays near zero while the console group works through the burst.

Across the two groups, an offer is re-read under the offer fence (agent_console/offer_fence.py)
just before its emit and dropped if it is no longer open, and a revocation, assignment or update
waits for an offer of its interaction being emitted: an `offer` never reaches a console after
that interaction's `offer.revoked`, `interaction.assigned` or `interaction.updated`, even when
another node emits it, or emits it late (a redelivery after a crash).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import col, select

from agent_console.message_batch import MessageBatch, MessageEvent, holder, load_message_batch
from agent_console.offer_fence import OfferFence, offer_fence
from agent_console.presenter import (
    agent_dict,
    interaction_dict,
    offer_by_id,
    offers_by_id,
    work_item,
)
from channels.web_chat import CHAT_NS, visitor_room
from hub import failpoints
from hub.bus import consume
from hub.context import Hub
from hub.customers import customer_card
from hub.events import (
    AgentStatusChanged,
    CallRinging,
    CustomerUpdated,
    Event,
    InteractionAssigned,
    InteractionUpdated,
    MessageCreated,
    MessageStatusChanged,
    OfferMade,
    OfferRevoked,
)
from hub.models import Agent, Interaction, UTCDateTime
from hub.tables import INTERACTIONS

log = logging.getLogger(__name__)

CONSOLE_GROUP = "console"
OFFERS_GROUP = "offers"
BROADCAST_GROUPS = (OFFERS_GROUP, CONSOLE_GROUP)
# What the offers group emits; the console group emits every other event.
OFFER_LANE = (OfferMade, OfferRevoked, CallRinging)
# Emitted only once no offer of their interaction is being emitted (the offer fence).
AFTER_OFFERS = (OfferRevoked, InteractionAssigned, InteractionUpdated)
SUPERVISOR_NS = "/supervisor"


def peek_room(interaction_id: str) -> str:
    return f"peek:{interaction_id}"


AGENT_NS = "/agent"


class Emitter(Protocol):
    async def emit(
        self, event: str, data: Any = None, *, room: str | None = None, namespace: str | None = None
    ) -> None: ...


def agent_room(agent_id: str) -> str:
    return f"agent:{agent_id}"


def customer_room(customer_id: str) -> str:
    return f"customer:{customer_id}"


DISPATCH_CONCURRENCY = 8


def in_offer_lane(event: Event) -> bool:
    return isinstance(event, OFFER_LANE)


_I = INTERACTIONS.c
# Open and not yet expired: an offer read after its time ran out (a backlog, a slow link) could
# only be refused when the agent takes it, and it hid the live offers behind it on the console.
STILL_OFFERED = sa.select(_I.id).where(
    _I.id == sa.bindparam("interaction_id"),
    _I.state == "offered",
    _I.offer_id == sa.bindparam("offer_id"),
    _I.offer_expires_at > sa.bindparam("now", type_=UTCDateTime),
)
STILL_RINGING = sa.select(_I.id).where(
    _I.id == sa.bindparam("interaction_id"), _I.state == "ringing"
)


def ordering_key(event: Event) -> str:
    """Events that must reach a console in order share a key."""
    for name in ("interaction_id", "customer_id", "agent_id"):
        value = getattr(event, name, None)
        if value:
            return f"{name}:{value}"
    return "other"


class Broadcaster:
    def __init__(self, hub: Hub, sio: Emitter, fence: OfferFence | None = None) -> None:
        self.hub = hub
        self.sio = sio
        self.fence = fence or offer_fence(hub)

    def consumers(
        self, consumer: str, *, block_s: float = 1.0
    ) -> dict[str, Coroutine[Any, Any, None]]:
        """The bus consumers that feed this broadcaster (hub/app.py runs them on every node),
        by task name; `consumer` names this node in the consumer groups."""
        hub = self.hub
        lanes = {
            "offer-events": (OFFERS_GROUP, self.handle_offers),
            "console-events": (CONSOLE_GROUP, self.handle_console),
        }
        return {
            name: consume(
                hub.bus,
                group,
                consumer,
                handler,
                block_s=block_s,
                shutdown=hub.shutdown,
                on_backlog=hub.metrics.bus_backlog.labels(group).set,
            )
            for name, (group, handler) in lanes.items()
        }

    async def handle_offers(self, events: list[Event]) -> None:
        """The offers group: offers, their revocations and call pops; the rest is the console's."""
        await self.handle([e for e in events if in_offer_lane(e)])

    async def handle_console(self, events: list[Event]) -> None:
        await self.handle([e for e in events if not in_offer_lane(e)])

    async def to_agent(self, agent_id: str | None, event: str, data: Any) -> None:
        if agent_id:
            await self.sio.emit(event, data, room=agent_room(agent_id), namespace=AGENT_NS)

    async def handle(self, events: list[Event]) -> None:
        """Each interaction's (agent's, customer's) events in order; different ones side by side.

        One after the other, an offer waited behind every other event of the batch, each with
        its own queries: under a burst on PostgreSQL, agents saw no offer for the whole 8 s of
        the B1 run although routing had made 554 (docs/performance.md)."""
        # A message that opened its interaction has nobody to tell: whoever gets that
        # interaction reads its messages later (hub/events.py). Every new contact's first message
        # cost two reads and a session here for no emit.
        events = [e for e in events if not (isinstance(e, MessageCreated) and e.opened)]
        if not events:
            return
        # After reading these events, before emitting any: an offer of their interaction being
        # emitted (by any node) goes first (agent_console/offer_fence.py).
        await self.fence.wait_clear(
            [e.interaction_id for e in events if isinstance(e, AFTER_OFFERS)]
        )
        gate = asyncio.Semaphore(DISPATCH_CONCURRENCY)
        batch = await self.preload(events)
        offers = await self.preload_offers(events)

        async def in_order(group: list[Event]) -> None:
            async with gate:
                for event in group:
                    failpoints.reach("console.before_emit")
                    try:
                        await self.dispatch(event, batch, offers)
                    except Exception:  # one bad event must not starve the rest
                        log.exception("could not broadcast %s", event.wire)

        groups: dict[str, list[Event]] = {}
        for event in events:
            groups.setdefault(ordering_key(event), []).append(event)
        await asyncio.gather(*(in_order(group) for group in groups.values()))

    async def preload(self, events: list[Event]) -> MessageBatch | None:
        """The rows of the batch's message events, read together (agent_console/message_batch).
        If that fails, each event reads its own rows as before."""
        wanted = [e for e in events if isinstance(e, MessageCreated | MessageStatusChanged)]
        if not wanted:
            return None
        try:
            async with self.hub.store.fanout_session() as session:
                return await load_message_batch(session, wanted)
        except Exception:
            log.warning("could not read a batch of %d message events", len(wanted), exc_info=True)
            return None

    async def preload_offers(self, events: list[Event]) -> dict[str, dict[str, Any] | None]:
        """The payloads of the batch's offers, read together when there are several (a routing
        pass offers up to an agent's capacity at once; at seven reads each, over a slow link
        the last of 100 reached its console after it had expired): offer id -> payload, None
        for an offer gone. Empty when read one by one (one offer, or the batch read failed)."""
        wanted = [e.offer_id for e in events if isinstance(e, OfferMade)]
        if len(wanted) < 2:
            return {}
        try:
            async with self.hub.store.fanout_session() as session:
                found = await offers_by_id(session, wanted)
        except Exception:
            log.warning("could not read a batch of %d offers", len(wanted), exc_info=True)
            return {}
        return {offer_id: found.get(offer_id) for offer_id in wanted}

    async def dispatch(
        self,
        event: Event,
        batch: MessageBatch | None = None,
        offers: dict[str, dict[str, Any] | None] | None = None,
    ) -> None:
        """Emit one event; `batch` and `offers` hold rows read for the whole batch (message
        events, offers)."""
        if isinstance(event, OfferMade) and offers and event.offer_id in offers:
            payload = offers[event.offer_id]
            if payload is not None:
                async with self.hub.store.fanout_session() as session:
                    await self._offer(session, event, payload)
            return
        if isinstance(event, OfferRevoked):  # everything it says is in the event
            await self.to_agent(
                event.agent_id,
                "offer.revoked",
                {
                    "offer_id": event.offer_id,
                    "interaction_id": event.interaction_id,
                    "reason": event.reason,
                },
            )
            return
        if isinstance(event, MessageCreated | MessageStatusChanged):
            if batch is None or not batch.covers(event):
                async with self.hub.store.fanout_session() as session:
                    batch = await load_message_batch(session, [event])
            await self._message(event, batch)
            return
        async with self.hub.store.fanout_session() as session:
            await self._read_and_emit(session, event)

    async def _read_and_emit(self, session: Any, event: Event) -> None:
        if isinstance(event, OfferMade):
            payload = await offer_by_id(session, event.offer_id)
            if payload is not None:
                await self._offer(session, event, payload)
        elif isinstance(event, CallRinging):
            it = await session.get(Interaction, event.interaction_id)
            if it is not None:
                await self._ringing(session, event, await work_item(session, it))
        elif isinstance(event, InteractionAssigned):
            it = await session.get(Interaction, event.interaction_id)
            if it is not None:
                await self.to_agent(
                    event.agent_id, "interaction.assigned", await work_item(session, it)
                )
                await self._tell_visitor(session, it, event.agent_id)
                await self._end_pops(it, but=event.agent_id)
        elif isinstance(event, InteractionUpdated):
            it = await session.get(Interaction, event.interaction_id)
            if it is not None:
                await self._updated(it, event)
        elif isinstance(event, AgentStatusChanged):
            agent = await session.get(Agent, event.agent_id)
            if agent is not None:
                await self.to_agent(agent.id, "status", agent_dict(agent))
        elif isinstance(event, CustomerUpdated):
            await self._customer(session, event.customer_id)

    async def _offer(self, session: Any, event: OfferMade, payload: dict[str, Any]) -> None:
        """Only an offer still open when it is emitted: one taken, revoked or timed out before
        (read late, redelivered after a crash) would reach the console after what closed it.
        The re-read is a statement of its own, so it sees every commit before it (the fan-out
        reads run in autocommit on PostgreSQL, outside a transaction on SQLite)."""
        async with self.fence.holding(event.interaction_id):
            params = {
                "interaction_id": event.interaction_id,
                "offer_id": event.offer_id,
                "now": self.hub.now(),
            }
            if (await session.execute(STILL_OFFERED, params)).first() is None:
                log.debug("offer %s closed or expired before its emit; not emitted", event.offer_id)
                return
            await self.to_agent(event.agent_id, "offer", payload)

    async def _ringing(self, session: Any, event: CallRinging, item: dict[str, Any]) -> None:
        """The pop, then a look whether the call still rings: if it was answered or ended
        meanwhile, the pop comes down again. The console group's `call.ringing.ended` (and the
        console's own handling of `interaction.assigned` / `.updated`) may have gone out before
        this pop, which travels in the offers group."""
        for agent_id in event.agent_ids:
            await self.to_agent(agent_id, "call.ringing", item)
        params = {"interaction_id": event.interaction_id}
        if (await session.execute(STILL_RINGING, params)).first() is None:
            for agent_id in event.agent_ids:
                await self.to_agent(
                    agent_id, "call.ringing.ended", {"interaction_id": event.interaction_id}
                )

    async def _updated(self, it: Interaction, event: InteractionUpdated) -> None:
        await self.to_agent(
            event.agent_id or holder(it), "interaction.updated", interaction_dict(it)
        )
        await self.sio.emit(
            "peek.updated", interaction_dict(it), room=peek_room(it.id), namespace=SUPERVISOR_NS
        )
        if it.state != "ringing":
            await self._end_pops(it, but=event.agent_id or holder(it))
        if it.channel == "chat" and it.state == "closed":
            await self.sio.emit(
                "closed",
                {"message": self.hub.settings.chat.closing_message},
                room=visitor_room(it.customer_address),
                namespace=CHAT_NS,
            )

    async def _end_pops(self, it: Interaction, but: str | None) -> None:
        """A PBX call popped on several consoles was answered or ended: take the pops down."""
        for agent_id in it.meta.get("popped", []):
            if agent_id != but:
                await self.to_agent(agent_id, "call.ringing.ended", {"interaction_id": it.id})

    async def _tell_visitor(self, session: Any, it: Interaction, agent_id: str) -> None:
        if it.channel != "chat":
            return
        agent = await session.get(Agent, agent_id)
        name = (agent.display_name or "Agent") if agent else "Agent"
        await self.sio.emit(
            "agent", {"name": name}, room=visitor_room(it.customer_address), namespace=CHAT_NS
        )

    async def _message(self, event: MessageEvent, batch: MessageBatch) -> None:
        found = batch.payload(event)
        if found is None:  # the message or its interaction is gone
            return
        payload, agent_id = found
        name = "message.created" if isinstance(event, MessageCreated) else "message.status"
        await self.to_agent(agent_id, name, payload)
        await self.sio.emit(
            "peek.message", payload, room=peek_room(event.interaction_id), namespace=SUPERVISOR_NS
        )

    async def _customer(self, session: Any, customer_id: str) -> None:
        card = await customer_card(session, customer_id)
        rows = (
            await session.exec(
                select(Interaction).where(
                    Interaction.customer_id == customer_id,
                    col(Interaction.state).in_(("offered", "assigned")),
                )
            )
        ).all()
        for agent_id in {holder(it) for it in rows}:
            await self.to_agent(agent_id, "customer.updated", card)
        # Consoles that have this customer's page open refetch the 360 view.
        await self.sio.emit(
            "customer.changed",
            {"id": customer_id},
            room=customer_room(customer_id),
            namespace=AGENT_NS,
        )
