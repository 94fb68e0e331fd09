"""Customer cards for many customers at once: a batch of offers
(agent_console/presenter.offers_by_id).

Four statements however many customers; one card (hub/customers.customer_card) costs four too,
so a routing pass's 100 offers read 400. The newest interactions and notes of each customer
come from a window (`row_number() OVER (PARTITION BY customer ...)`), in the same order and with
the same tie-breaks as the single card's LIMIT: a card is the same whichever way it was read.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.customers import (
    CARD_COLUMNS,
    CARD_NOTES,
    CARD_PREVIEW_CHARS,
    CARD_RECENT,
    HISTORY_COLUMNS,
    NEWEST_FIRST,
    NOTE_BODY,
    card_dict,
    history_item,
    last_preview,
    unknown_card,
)
from hub.driver_sql import DriverRead
from hub.models import Customer, CustomerIdentity, CustomerNote, Interaction
from hub.tables import core

_IDS: Any = sa.bindparam("ids", expanding=True)
CARDS = CARD_COLUMNS.where(core(Customer.id).in_(_IDS))
IDENTITIES = sa.select(
    core(CustomerIdentity.customer_id),
    core(CustomerIdentity.kind),
    core(CustomerIdentity.value),
    core(CustomerIdentity.confidence),
).where(core(CustomerIdentity.customer_id).in_(_IDS))

_notes = (
    sa.select(
        core(CustomerNote.customer_id),
        NOTE_BODY,
        core(CustomerNote.author_name),
        sa.func.row_number()
        .over(
            partition_by=core(CustomerNote.customer_id),
            order_by=(core(CustomerNote.created_at).desc(), core(CustomerNote.id).desc()),
        )
        .label("n"),
    )
    .where(core(CustomerNote.customer_id).in_(_IDS))
    .subquery("notes")
)
NOTES = (
    sa.select(_notes.c.customer_id, _notes.c.body, _notes.c.author_name)
    .where(_notes.c.n <= CARD_NOTES)
    .order_by(_notes.c.customer_id, _notes.c.n)
)

# Plain strings and numbers: on the driver (hub.driver_sql).
IDENTITIES_READ = DriverRead(IDENTITIES)
NOTES_READ = DriverRead(NOTES)

_ranked = (
    sa.select(
        *HISTORY_COLUMNS,
        core(Interaction.customer_id),
        sa.func.row_number()
        .over(partition_by=core(Interaction.customer_id), order_by=NEWEST_FIRST)
        .label("n"),
    )
    .where(core(Interaction.customer_id).in_(_IDS))
    .subquery("ranked")
)
# customer_card's own interaction and its CARD_RECENT past ones.
_recent = sa.select(_ranked).where(_ranked.c.n <= CARD_RECENT + 1).subquery("recent")
HISTORIES = sa.select(_recent, last_preview(_recent.c.id, CARD_PREVIEW_CHARS)).order_by(
    _recent.c.customer_id, _recent.c.n
)


async def customer_cards(
    session: AsyncSession, customer_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """customer_card for each id, by id (a customer gone has the same stand-in card)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    params = {"ids": ids}
    rows = {row.id: row for row in await session.execute(CARDS, params)}
    identities: dict[str, list[Any]] = {}
    for customer_id, *identity in await IDENTITIES_READ.all(session, params):
        identities.setdefault(customer_id, []).append(identity)
    notes: dict[str, list[Any]] = {}
    for customer_id, *note in await NOTES_READ.all(session, params):
        notes.setdefault(customer_id, []).append(note)
    histories: dict[str, list[dict[str, Any]]] = {}
    for row in await session.execute(HISTORIES, params):
        histories.setdefault(row.customer_id, []).append(history_item(row))
    return {
        cid: card_dict(
            rows[cid], identities.get(cid, []), histories.get(cid, []), notes.get(cid, [])
        )
        if cid in rows
        else unknown_card(cid)
        for cid in ids
    }
