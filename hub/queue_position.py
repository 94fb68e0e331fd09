"""Where a waiting interaction stands: position in its queue and estimated wait (voice, chat)."""

from __future__ import annotations

from sqlmodel import select

from hub.context import Hub
from hub.models import Interaction
from hub.routing_snapshot import WAITING_STATES, load_snapshot
from routing.engine import rank
from routing.types import Ranked


async def queue_position(hub: Hub, interaction_id: str) -> Ranked | None:
    """None when the interaction is not waiting (already offered counts as position 0 upstream).

    The state is read first: most chat messages belong to a conversation an agent already holds,
    and ranking the whole queue for them cost a full routing snapshot per message."""
    async with hub.store.session() as session:
        state = (
            await session.exec(select(Interaction.state).where(Interaction.id == interaction_id))
        ).first()
        if state not in WAITING_STATES:
            return None
        snapshot = await load_snapshot(session, hub.settings)
    for ranked in rank(snapshot, hub.now().timestamp()):
        if ranked.interaction_id == interaction_id:
            return ranked
    return None
