"""Close an assigned interaction with a disposition; the agent gets wrap-up time before the next."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from hub.context import Hub
from hub.errors import Conflict, Invalid
from hub.events import InteractionUpdated
from hub.tables import AGENTS, INTERACTIONS


def check_wrap_up(disposition: str, note: str, allowed: list[str]) -> tuple[str, str]:
    """`allowed` is the configured code list ([console] dispositions); empty = any code."""
    disposition = (disposition or "").strip()
    if not disposition or len(disposition) > 64:
        raise Invalid("a disposition code is required (at most 64 characters)")
    if allowed and disposition not in allowed:
        raise Invalid(f"unknown disposition {disposition[:64]!r}; use one of: {', '.join(allowed)}")
    return disposition, (note or "")[:2000]


_I = INTERACTIONS.c
CLOSE = (
    sa.update(INTERACTIONS)
    .where(
        _I.id == sa.bindparam("interaction_id"),
        _I.assigned_agent_id == sa.bindparam("agent_id"),
        # Open, or a call the hangup already closed that still needs its disposition.
        sa.or_(_I.state == "assigned", sa.and_(_I.state == "closed", _I.disposition == "")),
    )
    .values(
        state="closed",
        disposition=sa.bindparam("disposition"),
        wrapup_note=sa.bindparam("note"),
        closed_at=sa.bindparam("now"),
    )
)
AGENT_WRAPPED_UP = (
    sa.update(AGENTS)
    .where(AGENTS.c.id == sa.bindparam("agent_id"))
    .values(idle_since=sa.bindparam("now"), wrapup_until=sa.bindparam("until"))
)


async def wrap_up(
    hub: Hub, agent_id: str, interaction_id: str, disposition: str, note: str = ""
) -> None:
    allowed = [d.code for d in hub.settings.console.dispositions]
    disposition, note = check_wrap_up(disposition, note, allowed)
    now = hub.now()
    async with hub.transaction() as tx:
        params = {
            "interaction_id": interaction_id,
            "agent_id": agent_id,
            "disposition": disposition,
            "note": note,
            "now": now,
            "until": now + timedelta(seconds=hub.settings.routing.wrapup_s),
        }
        result = await tx.session.execute(CLOSE, params)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this interaction is not assigned to you", interaction_id=interaction_id)
        await tx.session.execute(AGENT_WRAPPED_UP, params)
        tx.emit(
            InteractionUpdated(interaction_id=interaction_id, state="closed", agent_id=agent_id)
        )
