"""Close an assigned interaction with a disposition; the agent gets wrap-up time before the next."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from hub.context import Hub
from hub.errors import Conflict, Invalid
from hub.events import InteractionUpdated
from hub.models import Agent, Interaction


def check_wrap_up(disposition: str, note: str, allowed: list[str]) -> tuple[str, str]:
    """`allowed` is the configured code list ([console] dispositions); empty = any code."""
    disposition = (disposition or "").strip()
    if not disposition or len(disposition) > 64:
        raise Invalid("a disposition code is required (at most 64 characters)")
    if allowed and disposition not in allowed:
        raise Invalid(f"unknown disposition {disposition[:64]!r}; use one of: {', '.join(allowed)}")
    return disposition, (note or "")[:2000]


async def wrap_up(
    hub: Hub, agent_id: str, interaction_id: str, disposition: str, note: str = ""
) -> None:
    allowed = [d.code for d in hub.settings.console.dispositions]
    disposition, note = check_wrap_up(disposition, note, allowed)
    now = hub.now()
    async with hub.transaction() as tx:
        result = await tx.session.exec(
            sa.update(Interaction)
            .where(
                col(Interaction.id) == interaction_id,
                col(Interaction.assigned_agent_id) == agent_id,
                # Open, or a call the hangup already closed that still needs its disposition.
                sa.or_(
                    col(Interaction.state) == "assigned",
                    sa.and_(col(Interaction.state) == "closed", col(Interaction.disposition) == ""),
                ),
            )
            .values(state="closed", disposition=disposition, wrapup_note=note, closed_at=now)
        )
        if result.rowcount != 1:
            raise Conflict("this interaction is not assigned to you", interaction_id=interaction_id)
        await tx.session.exec(
            sa.update(Agent)
            .where(col(Agent.id) == agent_id)
            .values(
                idle_since=now,
                wrapup_until=now + timedelta(seconds=hub.settings.routing.wrapup_s),
            )
        )
        tx.emit(
            InteractionUpdated(interaction_id=interaction_id, state="closed", agent_id=agent_id)
        )
