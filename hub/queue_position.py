"""Where a waiting interaction stands: position in its queue and estimated wait (voice, chat)."""

from __future__ import annotations

from hub.context import Hub
from hub.routing_snapshot import load_snapshot
from routing.engine import rank
from routing.types import Ranked


async def queue_position(hub: Hub, interaction_id: str) -> Ranked | None:
    """None when the interaction is not waiting (already offered counts as position 0 upstream)."""
    async with hub.store.session() as session:
        snapshot = await load_snapshot(session, hub.settings)
    for ranked in rank(snapshot, hub.now().timestamp()):
        if ranked.interaction_id == interaction_id:
            return ranked
    return None
