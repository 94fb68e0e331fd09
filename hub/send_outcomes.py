"""Outcomes of outbound sends, written in groups (group commit).

Before, every send had its own finish transaction (outbox row, message status, an event): on
SQLite each one queued for the single writer lock, and B5 drained 52 msg/s. Now outcomes queue
while the previous group commits and are written together, a few statements per group. A sent
row whose outcome is still queued here stays claimed (`send_claim_s`), so no relay sends it again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.context import Hub
from hub.events import MessageStatusChanged
from hub.models import Message, OutboxEntry

log = logging.getLogger(__name__)

MAX_GROUP = 200  # outcomes per transaction: keeps the writer lock short
WRITE_TRIES = 3  # a failed group write is retried: a lost outcome means a send goes out twice

OUTBOX = OutboxEntry.__table__  # type: ignore[attr-defined]
MESSAGES = Message.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed outbox row. `retry_at` set: try again then; else it is done
    and, for a message, `status` is its new status ("sent", "failed"...)."""

    entry_id: str
    message_id: str | None
    status: str
    error: str = ""
    provider_ref: str | None = None
    retry_at: datetime | None = None


class OutcomeWriter:
    """Writes outcomes as they come: while one group commits, the next one accumulates."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._pending: list[Outcome] = []
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.first_retry: datetime | None = None  # when the earliest retry added is due

    def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if outcome.retry_at is not None:
            self.first_retry = min(self.first_retry or outcome.retry_at, outcome.retry_at)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_pending(), name="send-outcomes")

    async def flush(self) -> None:
        """Until everything added so far is written; raises what a group write raised."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def _write_pending(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            try:
                await self._write_with_retries(group)
            except Exception as exc:
                self._failure = exc
                log.exception("could not record %d send outcomes", len(group))

    async def _write_with_retries(self, group: list[Outcome]) -> None:
        for attempt in range(WRITE_TRIES):
            try:
                await write_outcomes(self.hub, group)
                return
            except Exception:
                if attempt + 1 == WRITE_TRIES:
                    raise
                log.warning("recording send outcomes failed; retrying", exc_info=True)
                await asyncio.sleep(0.5 * 2**attempt)


async def write_outcomes(hub: Hub, outcomes: list[Outcome]) -> None:
    """One transaction: the outbox rows, the messages' status (never moved back: a fast status
    callback may already have said "delivered"), and one status event per message."""
    done = [o for o in outcomes if o.retry_at is None]
    retries = [o for o in outcomes if o.retry_at is not None]
    async with hub.transaction() as tx:
        conn = await tx.session.connection()
        if done:
            await conn.execute(_finish_rows(), [_row_params(o) for o in done])
        if retries:
            await conn.execute(_retry_rows(), [_row_params(o) for o in retries])
        messages = [o for o in done if o.message_id]
        if not messages:
            return
        await conn.execute(_message_status(), [_message_params(o) for o in messages])
        ids = [o.message_id for o in messages]
        rows = await conn.execute(
            sa.select(
                MESSAGES.c.id, MESSAGES.c.interaction_id, MESSAGES.c.status, MESSAGES.c.error
            ).where(MESSAGES.c.id.in_(ids))
        )
        for row in rows:
            tx.emit(
                MessageStatusChanged(
                    message_id=row.id,
                    interaction_id=row.interaction_id,
                    status=row.status,
                    error=row.error,
                )
            )


def _row_params(o: Outcome) -> dict[str, Any]:
    params: dict[str, Any] = {"oid": o.entry_id, "err": o.error[:500]}
    if o.retry_at is not None:
        params["at"] = o.retry_at
    return params


def _message_params(o: Outcome) -> dict[str, Any]:
    return {"mid": o.message_id, "new": o.status, "err": o.error[:500], "ref": o.provider_ref}


def _finish_rows() -> sa.Update:
    return (
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == sa.bindparam("oid"))
        .values(
            done=True,
            attempts=OUTBOX.c.attempts + 1,
            last_error=sa.bindparam("err", type_=OUTBOX.c.last_error.type),
        )
    )


def _retry_rows() -> sa.Update:
    return (
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == sa.bindparam("oid"))
        .values(
            attempts=OUTBOX.c.attempts + 1,
            last_error=sa.bindparam("err", type_=OUTBOX.c.last_error.type),
            next_attempt_at=sa.bindparam("at", type_=OUTBOX.c.next_attempt_at.type),
        )
    )


def _message_status() -> sa.Update:
    status = MESSAGES.c.status
    return (
        sa.update(MESSAGES)
        .where(MESSAGES.c.id == sa.bindparam("mid"))
        .values(
            status=sa.case(
                (status == "queued", sa.bindparam("new", type_=status.type)), else_=status
            ),
            error=sa.bindparam("err", type_=MESSAGES.c.error.type),
            provider_ref=sa.func.coalesce(
                sa.bindparam("ref", type_=MESSAGES.c.provider_ref.type), MESSAGES.c.provider_ref
            ),
        )
    )
