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

ROOT = Path(__file__).resolve().parent.parent


class Store:
    """Owns the engine; actions open one transaction each with `async with store.transaction()`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = make_engine(url)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )
        # The console fan-out's reads have their own few connections (see fanout_session); an
        # in-memory SQLite database exists only on its one connection, so it is shared there.
        self.fanout_engine: AsyncEngine = (
            self.engine if in_memory(url) else make_engine(url, pool_size=FANOUT_POOL)
        )
        self._fanout_sessions = async_sessionmaker(
            self.fanout_engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
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
        """A session for reads (no explicit transaction management)."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def fanout_session(self) -> AsyncIterator[AsyncSession]:
        """A read session on the console fan-out's own pool.

        From the shared pool, the broadcaster queued for a connection behind every request
        handler waiting for one: under a burst of chat messages it emitted nothing until the
        burst was stored (B2, docs/performance.md), and on PostgreSQL such a wait can outlast
        the pool timeout, which loses the emits (consoles re-sync only on their next snapshot).
        """
        async with self._fanout_sessions() as session:
            yield session

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(run_migrations)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        await self.engine.dispose()
        if self.fanout_engine is not self.engine:
            await self.fanout_engine.dispose()


def in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (parsed.database or "") in ("", ":memory:")


# The broadcaster's DISPATCH_CONCURRENCY. No overflow: an overflow connection is closed when
# returned, and under load the fan-out opened and closed PostgreSQL connections all the time.
FANOUT_POOL = 8


def make_engine(url: str, *, pool_size: int | None = None) -> AsyncEngine:
    """`pool_size`: a fixed pool of that size (no overflow); by default the shared pool."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=5)
    if pool_size is not None:
        kwargs.update(pool_size=pool_size, max_overflow=0)
        if parsed.get_backend_name() == "postgresql":
            # A restarting or unreachable server fails fast (503 within a provider's 15 s).
            kwargs["connect_args"] = {"timeout": 5}
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


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
