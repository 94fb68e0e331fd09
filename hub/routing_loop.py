"""Drive routing passes: on routing-relevant events from the bus, and on a ticker for timeouts."""

from __future__ import annotations

import logging

from hub.actions.route_interactions import route_interactions
from hub.context import Hub
from hub.events import (
    AgentStatusChanged,
    Event,
    InteractionQueued,
    InteractionReceived,
    InteractionUpdated,
    OfferRevoked,
)

log = logging.getLogger(__name__)

ROUTING_GROUP = "routing"
TICKER_LEASE = "routing-ticker"
TRIGGERS = (
    InteractionReceived,
    InteractionQueued,
    OfferRevoked,
    AgentStatusChanged,
    InteractionUpdated,
)


async def on_events(hub: Hub, events: list[Event]) -> None:
    """Any node that receives a trigger runs a pass; the DB fence keeps passes serial."""
    if any(isinstance(e, TRIGGERS) for e in events):
        hub.kick("routing")


async def tick(hub: Hub, kicked: bool) -> int:
    """One pass. Only the node holding the ticker lease runs timed passes (offer timeouts, aging);
    kicked passes run anywhere. Correctness never depends on the lease, only on the fence."""
    ttl = max(hub.settings.routing.tick_s * 5, 5.0)
    if not kicked and not await hub.routing_state.acquire(TICKER_LEASE, hub.node_id, ttl):
        return 0
    return await route_interactions(hub)
