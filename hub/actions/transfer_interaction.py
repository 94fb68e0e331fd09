"""Hand an assigned interaction to another queue (or a named agent); it keeps its waiting time."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from hub.context import Hub
from hub.errors import Conflict, Invalid, NotFound
from hub.events import InteractionQueued, InteractionUpdated
from hub.models import Agent, AuditLog, Interaction, Message, Queue


async def transfer_interaction(
    hub: Hub,
    agent_id: str,
    interaction_id: str,
    *,
    queue_id: str | None = None,
    to_agent_id: str | None = None,
    note: str = "",
) -> Interaction:
    """A note travels with the interaction as an internal message (never sent to the customer)."""
    if not queue_id and not to_agent_id:
        raise Invalid("name a queue or an agent to transfer to")
    if to_agent_id == agent_id:
        raise Invalid("you cannot transfer to yourself")
    async with hub.transaction() as tx:
        interaction = await tx.session.get(Interaction, interaction_id)
        if interaction is None:
            raise NotFound("no such interaction")
        target_queue = queue_id or interaction.queue_id
        if await tx.session.get(Queue, target_queue) is None:
            raise Invalid(f"no queue {target_queue!r}")
        if to_agent_id and await tx.session.get(Agent, to_agent_id) is None:
            raise Invalid("no such agent")
        result = await tx.session.exec(
            sa.update(Interaction)
            .where(
                col(Interaction.id) == interaction_id,
                col(Interaction.state) == "assigned",
                col(Interaction.assigned_agent_id) == agent_id,
            )
            .values(
                state="queued",
                queue_id=target_queue,
                assigned_agent_id=None,
                assigned_at=None,
                preferred_agent_id=to_agent_id,
                excluded_agent_ids=[agent_id],
                excluded_until=hub.now() + timedelta(seconds=hub.settings.routing.exclusion_s),
            )
        )
        if result.rowcount != 1:
            raise Conflict("this interaction is not assigned to you", interaction_id=interaction_id)
        await tx.session.refresh(interaction)
        author = await tx.session.get(Agent, agent_id)
        tx.session.add(
            AuditLog(
                actor=author.username if author else agent_id,
                action="interaction.transfer",
                target=interaction_id,
                detail={"queue": target_queue, "agent": to_agent_id or ""},
            )
        )
        if note.strip():
            tx.session.add(
                Message(
                    interaction_id=interaction_id,
                    channel=interaction.channel,
                    direction="note",
                    sender=(author.display_name or author.username) if author else "",
                    author_agent_id=agent_id,
                    body=note.strip()[:2000],
                    status="internal",
                )
            )
        tx.emit(
            InteractionUpdated(interaction_id=interaction_id, state="queued", agent_id=agent_id)
        )
        tx.emit(
            InteractionQueued(
                interaction_id=interaction_id, queue_id=target_queue, reason="transfer"
            )
        )
    return interaction
