"""What a batch of message events (`message.created`, `message.status`) needs, read together.

The broadcaster read a Message, its Interaction and its attachments per event: three queries and
a session each, ~1 ms per chat message on SQLite. A batch from the bus (up to 100 events) costs
two queries in all: the messages with their files, and the interactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from agent_console.presenter import FILE_COLUMNS, MESSAGE_COLUMNS, joined_file, message_dict
from hub.driver_sql import DriverRead
from hub.events import MessageCreated, MessageStatusChanged
from hub.models import Interaction, Message, StoredAttachment
from hub.tables import ATTACHMENTS_TABLE, core

MessageEvent = MessageCreated | MessageStatusChanged


# The messages with their files in one query (the files were a third query per batch).
MESSAGES = (
    sa.select(*MESSAGE_COLUMNS, *FILE_COLUMNS)
    .outerjoin(ATTACHMENTS_TABLE, core(StoredAttachment.message_id) == core(Message.id))
    .where(core(Message.id).in_(sa.bindparam("ids", expanding=True)))
    .order_by(core(StoredAttachment.created_at), core(StoredAttachment.id))
)
HOLDERS = sa.select(
    core(Interaction.id),
    core(Interaction.state),
    core(Interaction.offered_agent_id),
    core(Interaction.assigned_agent_id),
).where(core(Interaction.id).in_(sa.bindparam("ids", expanding=True)))


HOLDERS_READ = DriverRead(HOLDERS)  # strings only: on the driver (hub.driver_sql)


def holder(it: Any) -> str | None:
    """The agent who currently sees this interaction (offered or assigned).

    `it`: an Interaction, or any row with its state, offered_agent_id and assigned_agent_id."""
    return _holder(it.state, it.offered_agent_id, it.assigned_agent_id)


def _holder(state: str, offered_agent_id: str | None, assigned_agent_id: str | None) -> str | None:
    if state == "offered":
        return offered_agent_id
    if state in ("assigned", "closed"):
        return assigned_agent_id
    return None


@dataclass
class MessageBatch:
    """Rows read for some message events. An id asked for and not found (deleted since) is
    absent from `messages` / `holders`; `covers` tells it from one that was never asked for."""

    asked_messages: set[str] = field(default_factory=set)
    asked_interactions: set[str] = field(default_factory=set)
    messages: dict[str, Any] = field(default_factory=dict)  # id -> row of MESSAGE_COLUMNS
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # message id -> files
    holders: dict[str, str | None] = field(default_factory=dict)  # interaction id -> agent

    def covers(self, event: MessageEvent) -> bool:
        return (
            event.message_id in self.asked_messages
            and event.interaction_id in self.asked_interactions
        )

    def payload(self, event: MessageEvent) -> tuple[dict[str, Any], str | None] | None:
        """The event's message payload and the agent to tell; None when either row is gone."""
        row = self.messages.get(event.message_id)
        if row is None or event.interaction_id not in self.holders:
            return None
        return message_dict(row, self.files.get(row.id, [])), self.holders[event.interaction_id]


async def load_message_batch(session: AsyncSession, events: Sequence[MessageEvent]) -> MessageBatch:
    """Two queries for any number of events: messages with their files, interactions."""
    message_ids = sorted({e.message_id for e in events})
    interaction_ids = sorted({e.interaction_id for e in events})
    batch = MessageBatch(asked_messages=set(message_ids), asked_interactions=set(interaction_ids))
    if not message_ids:
        return batch
    for row in await session.execute(MESSAGES, {"ids": message_ids}):
        batch.messages.setdefault(row.id, row)
        files = batch.files.setdefault(row.id, [])
        if row.file_id is not None:
            files.append(joined_file(row))
    rows = await HOLDERS_READ.all(session, {"ids": interaction_ids})
    batch.holders = {id_: _holder(state, offered, by) for id_, state, offered, by in rows}
    return batch
