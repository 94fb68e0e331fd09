"""The visitor ends the chat, optionally rating it (CSAT 1-5, stored for reports)."""

from __future__ import annotations

from hub.context import Hub
from hub.events import InteractionUpdated
from hub.models import Interaction


async def close_chat(hub: Hub, interaction_id: str, *, rating: int | None) -> None:
    async with hub.transaction() as tx:
        it = await tx.session.get(Interaction, interaction_id)
        if it is None or it.channel != "chat":
            return
        meta = {**it.meta, "visitor_closed_at": hub.now().isoformat()}
        if rating is not None:
            meta["csat"] = rating
        it.meta = meta
        if it.state in ("queued", "offered"):
            # Nobody took it yet: it stays as work, but the visitor has left.
            meta["visitor_left"] = True
        tx.session.add(it)
        tx.emit(
            InteractionUpdated(interaction_id=it.id, state=it.state, agent_id=it.assigned_agent_id)
        )
