"""Hot reads sent straight to the driver connection, skipping SQLAlchemy's execution path.

On this project's VM a one-row SELECT with two `IN` lists costs ~65 us through
`session.execute` (compiled-cache lookup, expanding the lists, the execution context, the
greenlet hop, result metadata) against ~5 us for the same SQL on the driver (docs/performance.md).
The receive batch runs two such reads per chat line and the fan-out one per batch, on the loop
that B2 saturates, so those few statements go this way (and the customer card's identities and
notes, and the board's 2,000 assigned rows on B2's floor); everything else keeps SQLAlchemy.

What a `DriverRead` still takes from SQLAlchemy: the SQL, compiled by the dialect once per
shape (the lengths of its lists), and the session's connection and transaction. What it gives
up is type processing, so it refuses (at first use, per dialect) a statement whose parameters
or columns need a processor: only plain strings and integers come back as the driver returns
them. The engine's `before_cursor_execute` / `after_cursor_execute` listeners still fire, so
statement counts (metrics, tests) see these reads like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

# A positional parameter: (name, index in its list or -1 for a scalar), or (None, a value the
# statement carries itself, such as `state IN ('queued', ...)` built from a literal tuple).
_Position = tuple[str, int] | tuple[None, Any]
_Shape = tuple[str, tuple[_Position, ...]]


class DriverRead:
    """One SELECT, run on the driver connection of the session's transaction."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, Any] = {}  # dialect name -> checked compiled statement
        self._shapes: dict[tuple[str, tuple[int, ...]], _Shape] = {}

    async def all(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The rows as the driver returns them (tuples or records, by position)."""
        # The session's connection (checked out, its transaction begun): one greenlet hop,
        # where AsyncSession.connection() and get_raw_connection() took two.
        sync = await greenlet_spawn(session.sync_session.connection)
        dialect = sync.dialect
        names = sorted(params)
        key = (dialect.name, tuple(_length(params[n]) for n in names))
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self._shape(dialect, params)
        sql, order = shape
        args = tuple(
            i if name is None else params[name] if i < 0 else params[name][i] for name, i in order
        )
        sync.dispatch.before_cursor_execute(sync, None, sql, args, None, False)
        driver: Any = sync.connection.driver_connection
        try:
            if dialect.name == "postgresql":
                rows: list[Sequence[Any]] = await driver.fetch(sql, *args)
            else:  # SQLite: the inline connection (hub.sqlite_inline), aiosqlite's interface
                cursor = await driver.execute(sql, args)
                rows = await cursor.fetchall()
                await cursor.close()
        except Exception as exc:
            # The driver's own exception (sqlite3's, asyncpg's) is not what the rest of the hub
            # is told: SQLAlchemy's DBAPIError family, by which hub.availability tells an
            # outage (503, retry) from a bug. Sent again through SQLAlchemy, the statement
            # fails the way every other statement does (or answers, if the failure passed).
            log.info("driver read failed (%s); going again through SQLAlchemy", type(exc).__name__)
            return list((await session.execute(self.statement, params)).all())
        sync.dispatch.after_cursor_execute(sync, None, sql, args, None, False)
        return rows

    def _shape(self, dialect: Dialect, params: Mapping[str, Any]) -> _Shape:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _checked(self.statement, dialect)
        # Stand-ins for the values say which parameter and list item each position takes.
        marks = {
            name: [f"\x00{name}\x00{i}" for i in range(len(v))]
            if _length(v) >= 0
            else f"\x00{name}\x00-1"
            for name, v in params.items()
        }
        expanded = compiled.construct_expanded_state(marks)
        order: list[_Position] = []
        for value in expanded.positional_parameters:
            if isinstance(value, str) and value.startswith("\x00"):
                _, name, index = value.split("\x00")
                order.append((name, int(index)))
            else:
                order.append((None, value))
        return expanded.statement, tuple(order)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list | tuple) else -1


def _checked(statement: sa.Select[Any], dialect: Dialect) -> Any:
    if dialect.name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"DriverRead has no path for {dialect.name}")
    compiled = statement.compile(dialect=dialect)
    if not compiled.positional:
        raise NotImplementedError(f"{dialect.name}: DriverRead needs a positional paramstyle")
    for bind in compiled.binds.values():
        if bind.type.bind_processor(dialect) is not None:
            raise TypeError(f"parameter {bind.key} needs a bind processor on {dialect.name}")
    for column in statement.selected_columns:
        if column.type.result_processor(dialect, None) is not None:
            raise TypeError(f"column {column} needs a result processor on {dialect.name}")
    return compiled
