"""Where a waiting interaction stands: position in its queue and estimated wait (voice, chat)."""

from __future__ import annotations

import asyncio
import time

from sqlmodel import select

from hub.context import Hub
from hub.models import Interaction
from hub.routing_snapshot import WAITING_STATES, load_snapshot
from routing.engine import rank
from routing.types import Ranked

RANKING = "queue_ranking"  # hub.resources key


class SharedRanking:
    """One ranking of every waiting interaction serves all the callers whose interaction was
    already committed when it started. In a burst (a storm, a recall) every new chat asked for
    its position, and each answer built a full routing snapshot: O(queue) per message, O(n^2)
    per burst. Now callers that arrive while a ranking runs share the next one."""

    def __init__(self) -> None:
        self._task: asyncio.Future[dict[str, Ranked]] | None = None
        self._started = float("-inf")

    async def since(self, hub: Hub, seen_at: float) -> dict[str, Ranked]:
        """A ranking that started at or after `seen_at` (monotonic seconds)."""
        while True:
            task = self._task
            if task is not None and self._started >= seen_at:
                return await asyncio.shield(task)
            if task is not None and not task.done():
                await asyncio.wait([task])  # began before our row was visible: take the next
                continue
            self._started = time.monotonic()
            self._task = asyncio.ensure_future(_ranking(hub))

    @staticmethod
    def of(hub: Hub) -> SharedRanking:
        shared = hub.resources.get(RANKING)
        if shared is None:
            shared = hub.resources[RANKING] = SharedRanking()
        return shared


async def _ranking(hub: Hub) -> dict[str, Ranked]:
    async with hub.store.session() as session:
        snapshot = await load_snapshot(session, hub.settings)
    return {r.interaction_id: r for r in rank(snapshot, hub.now().timestamp())}


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
    ranking = await SharedRanking.of(hub).since(hub, time.monotonic())
    return ranking.get(interaction_id)
