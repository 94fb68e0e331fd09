"""Engine, sessions and migrations (SQLite via aiosqlite by default, PostgreSQL via asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import sqlite_inline

ROOT = Path(__file__).resolve().parent.parent


class Store:
    """Owns the engine; actions open one transaction each with `async with store.transaction()`."""

    def __init__(self, url: str, pool_size: int = 30) -> None:
        self.url = url
        self.checkpointer = sqlite_checkpointer(url)
        self.engine: AsyncEngine = make_engine(url, pool_size, self.checkpointer)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )
        # Reads need no BEGIN and ROLLBACK round trips: on PostgreSQL (read committed) each
        # statement sees its own snapshot either way. SQLite's driver already reads outside a
        # transaction until the first write.
        reader = self.engine
        if not self.is_sqlite:
            reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._readers = async_sessionmaker(
            reader, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )
        # On PostgreSQL the console fan-out reads on a few connections of its own: from the
        # shared pool the broadcaster queued behind every request handler waiting for one, so
        # under a burst of chat messages it emitted nothing until the burst was stored (B2), and
        # a wait past the pool timeout lost the emits. SQLite shares one engine: more
        # connections there only meant more writers contending for its single lock (B1's
        # webhook rate fell by a third with a separate fan-out pool).
        self.fanout_engine: AsyncEngine = self.engine
        fanout = reader
        if not self.is_sqlite:
            self.fanout_engine = make_engine(url, FANOUT_POOL)
            fanout = self.fanout_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._fanout_sessions = async_sessionmaker(
            fanout, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )
        # Long reads (the supervisor board every 2 s, reports) on SQLite run on aiosqlite's own
        # thread, on read-only connections: inline they ran on the hub's event loop, whose one
        # core B2 already saturates, and sqlite3 lets go of the GIL while a statement runs, so
        # on a thread they use the other core. A reader never takes SQLite's write lock (WAL),
        # so inline execution's one rule (no second writer in this process) still holds.
        self.report_engine: AsyncEngine = self.engine
        report = reader
        if self.checkpointer is not None:
            self.report_engine = make_report_engine(url)
            report = self.report_engine
        self._report_sessions = async_sessionmaker(
            report, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside BEGIN ... COMMIT (rolled back on any exception)."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: each statement commits on its own; writes, and server-side
        cursors (`session.stream`), belong in `transaction()`."""
        async with self._readers() as session:
            yield session

    @asynccontextmanager
    async def fanout_session(self) -> AsyncIterator[AsyncSession]:
        """A read session for the console fan-out (its own pool on PostgreSQL, see above)."""
        async with self._fanout_sessions() as session:
            yield session

    @asynccontextmanager
    async def report_session(self) -> AsyncIterator[AsyncSession]:
        """A read-only session for long reads, off the event loop's thread on SQLite."""
        async with self._report_sessions() as session:
            yield session

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(run_migrations)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        await self.engine.dispose()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self.fanout_engine is not self.engine:
            await self.fanout_engine.dispose()
        if self.report_engine is not self.engine:
            await self.report_engine.dispose()


# The broadcaster's DISPATCH_CONCURRENCY (a fixed pool, like the shared one).
FANOUT_POOL = 8


def sqlite_checkpointer(url: str) -> sqlite_inline.Checkpointer | None:
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return sqlite_inline.Checkpointer(database)


def make_engine(
    url: str, pool_size: int = 30, checkpointer: sqlite_inline.Checkpointer | None = None
) -> AsyncEngine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = sqlite_inline.connect(database, 30, checkpointer)
            # Kept open, not opened per checkout: the default 5 + 10 overflow closed an
            # overflow connection on every return, and a new one costs its PRAGMAs.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        else:
            kwargs["connect_args"] = {"timeout": 30}
    else:
        # A fixed pool: overflow connections are closed on return, so under a steady burst the
        # old 10 + 20 overflow opened and closed PostgreSQL connections all the time (a backend
        # start each). No pre-ping: it cost three round trips (BEGIN, ping, ROLLBACK) on every
        # checkout for a transaction; a connection a PostgreSQL restart closed now fails its
        # first statement instead (503 + Retry-After, nothing written), and SQLAlchemy then
        # drops every pooled connection older than the failure.
        kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=5)
        if parsed.get_backend_name() == "postgresql":
            # A restarting or unreachable server fails fast (503 within a provider's 15 s).
            kwargs["connect_args"] = {"timeout": 5}
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_report_engine(url: str) -> AsyncEngine:
    """aiosqlite as published (a thread per connection), two connections, writes refused."""
    engine = create_async_engine(
        url, pool_size=REPORT_POOL, max_overflow=0, connect_args={"timeout": 30}
    )
    event.listen(engine.sync_engine, "connect", _report_pragmas)
    return engine


REPORT_POOL = 2


def _report_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; foreign keys are off by default in SQLite.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def run_migrations(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")
