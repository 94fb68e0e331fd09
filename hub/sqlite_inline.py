"""SQLite on the event loop's own thread: aiosqlite's interface, without its thread hop.

aiosqlite runs every statement on a thread of its own and hands the result back through the
loop: on this project's 2-core VM that round trip (a queue, a wake-up through the loop's
self-pipe and a GIL hand-off that waits out the switch interval while the loop is busy) cost
0.25 ms against 0.01 ms for the statement itself, and a B1 message runs about fifty statements
(docs/performance.md). SQLite statements of the hub's size take microseconds, so running them
inline is far cheaper than handing them off; SQLAlchemy's aiosqlite dialect takes this class
through `async_creator` unchanged.

What inline execution asks in return: a second writer of this process must never reach
SQLite's busy handler, which would sleep on the loop's thread while the coroutine holding the
write lock could never run to release it. So a connection takes an asyncio lock (one per
database file and loop) at the statement that opens its write transaction and gives it back when
the transaction ends; the busy handler is left to other processes (a CLI command, a migration).
And the loop must not wait for the disk: the WAL is checkpointed on a thread (`Checkpointer`),
not by whichever commit crosses the autocheckpoint size.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

# sqlite3's own exception hierarchy and constants are what the dialect expects of "aiosqlite".
__all__ = ["Checkpointer", "InlineConnection", "connect", "write_lock"]

log = logging.getLogger(__name__)


# The statements before which sqlite3 opens a transaction by itself (its legacy transaction
# control, which SQLAlchemy's pysqlite dialect relies on), plus an explicit BEGIN.
_WRITE = re.compile(
    r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(INSERT|UPDATE|DELETE|REPLACE|BEGIN)\b", re.I | re.S
)

# Statements run back to back for at most this long before the loop gets a turn.
YIELD_AFTER_S = 0.005
_stretch_began: float | None = None  # when the loop last turned, as far as statements know


def _loop_turned() -> None:
    global _stretch_began
    _stretch_began = None


async def _take_turns() -> None:
    """A long run of statements without a real await (a 1,000-row import batch) gives the loop
    a turn every YIELD_AFTER_S, as aiosqlite's hop did after every statement; the handful of
    statements of one webhook or one accept runs straight through."""
    global _stretch_began
    now = time.perf_counter()
    if _stretch_began is None:
        _stretch_began = now
        asyncio.get_running_loop().call_soon(_loop_turned)  # runs at the loop's next turn
    elif now - _stretch_began > YIELD_AFTER_S:
        await asyncio.sleep(0)
        _stretch_began = None


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]
_locks = weakref.WeakKeyDictionary()


def write_lock(database: str) -> asyncio.Lock:
    """One per database file and event loop: every engine of this process on the file shares it
    (two hubs in one test process, a CLI command's own Store)."""
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = per_loop.get(database)
    if lock is None:
        lock = per_loop[database] = asyncio.Lock()
    return lock


class InlineCursor:
    """The async cursor aiosqlite hands out; only waiting for the write lock suspends."""

    __slots__ = ("_conn", "_cursor")

    def __init__(self, conn: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._conn = conn
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        await self._conn.before(sql)
        try:
            if parameters is None:
                self._cursor.execute(sql)
            else:
                self._cursor.execute(sql, parameters)
        finally:
            self._conn.after()
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        await self._conn.before(sql)
        try:
            self._cursor.executemany(sql, parameters)
        finally:
            self._conn.after()
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    def __aiter__(self) -> InlineCursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _CursorContext:
    """aiosqlite's `cursor()` is awaited (or entered) to get the cursor."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: InlineCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        yield from ()
        return self._cursor

    async def __aenter__(self) -> InlineCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class _NoQueue:
    """SQLAlchemy sets isolation_level through aiosqlite's private work queue (`_tx`): run the
    setter at once and settle its future."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is None:
                raise
            future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection:
    """The subset of aiosqlite.Connection that SQLAlchemy's aiosqlite dialect calls.

    It holds its database's write lock from the statement that opens a write transaction until
    that transaction ends, so a second writer of this process waits on the lock (and the loop
    runs on) instead of in SQLite's busy handler (where the loop would stop)."""

    def __init__(self, conn: sqlite3.Connection, lock: asyncio.Lock) -> None:
        self._connection: sqlite3.Connection | None = conn
        self._tx = _NoQueue()
        self._lock = lock
        self._holds = False

    async def before(self, sql: str) -> None:
        if not self._holds and _WRITE.match(sql) and not self._conn.in_transaction:
            await self._lock.acquire()
            self._holds = True
        await _take_turns()

    def after(self) -> None:
        """Release once no transaction is open (a write in autocommit mode, or one that failed
        to begin)."""
        if self._holds and (self._connection is None or not self._connection.in_transaction):
            self._holds = False
            self._lock.release()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    def cursor(self) -> _CursorContext:
        return _CursorContext(InlineCursor(self, self._conn.cursor()))

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = InlineCursor(self, self._conn.cursor())
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self._conn.commit()
        finally:
            self.after()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self.after()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()  # rolls back what was open
            self._connection = None
        self.after()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value  # type: ignore[assignment]


# A commit that crosses SQLite's autocheckpoint size (1,000 pages) copies the WAL into the
# database and syncs it, on the loop's thread: 20 ms stalls (docs/performance.md). The
# Checkpointer does that work on a thread of its own; this much larger threshold only matters
# if it falls far behind (a reader holding an old snapshot for minutes).
AUTOCHECKPOINT_PAGES = 20_000


def connect(
    database: str, timeout: float, checkpointer: Checkpointer | None = None
) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine."""

    async def creator() -> InlineConnection:
        if checkpointer is not None:
            checkpointer.start()
        conn = sqlite3.connect(database, timeout=timeout, check_same_thread=False)
        conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        return InlineConnection(conn, write_lock(database))

    return creator


class Checkpointer:
    """Copies the WAL into the database file every `interval_s`, on a thread of its own (sqlite3
    lets go of the GIL while it writes and syncs). PASSIVE never waits for readers or the
    writer; a WAL fully copied is started over by the next writer."""

    def __init__(self, database: str, interval_s: float = 0.5) -> None:
        self.database = database
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._ran = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)

    def _run(self) -> None:
        conn = sqlite3.connect(self.database, timeout=5, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval_s):
                self.checkpoint(conn)
                self._ran.set()
        finally:
            conn.close()

    def wait_for_run(self, timeout: float) -> bool:
        """Block until the next checkpoint has run (tests; call it in a thread)."""
        self._ran.clear()
        return self._ran.wait(timeout)

    @staticmethod
    def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
        """(busy, WAL pages, pages copied), as SQLite reports them; (1, -1, -1) on an error."""
        try:
            busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            log.warning("WAL checkpoint failed; the next one retries", exc_info=True)
            return (1, -1, -1)
        return (int(busy), int(pages), int(copied))
