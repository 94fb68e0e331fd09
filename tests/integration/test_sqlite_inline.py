"""SQLite on the loop's thread (hub/sqlite_inline.py): no thread hop, and a second writer of the
process waits on the write lock, never in SQLite's busy handler (which would stop the loop)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub import sqlite_inline
from hub.models import Agent
from hub.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await store.migrate()
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE scratch (id TEXT PRIMARY KEY)"))
    yield store
    await store.close()


SCRATCH = sa.table("scratch", sa.column("id"))


def engine(tmp_path: Path, timeout: float) -> AsyncEngine:
    """A second engine on the store's file; a short busy timeout makes a reached busy handler
    fail fast ("database is locked") instead of stalling the test for 30 s."""
    path = str(tmp_path / "hub.db")
    return create_async_engine(
        f"sqlite+aiosqlite:///{path}", async_creator=sqlite_inline.connect(path, timeout)
    )


async def test_statements_run_on_the_loops_thread(store: Store) -> None:
    threads: set[int] = set()

    def record(value: int) -> int:
        threads.add(threading.get_ident())
        return value

    async with store.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.create_function("record", 1, record)  # type: ignore[union-attr]
        assert (await conn.execute(sa.text("SELECT record(7)"))).scalar() == 7
    assert threads == {threading.get_ident()}


async def test_a_second_writer_waits_on_the_lock_and_the_loop_runs_on(
    store: Store, tmp_path: Path
) -> None:
    other = engine(tmp_path, timeout=0.2)
    first_wrote, release = asyncio.Event(), asyncio.Event()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def first() -> None:
        async with store.transaction() as s:
            s.add(Agent(id="a1", username="first"))
            await s.flush()
            first_wrote.set()
            await release.wait()  # holds SQLite's write lock across a real suspension

    async def second() -> None:
        await first_wrote.wait()
        async with other.begin() as conn:
            await conn.execute(sa.insert(SCRATCH).values(id="second"))

    beat = asyncio.create_task(ticker())
    writer, waiter = asyncio.create_task(first()), asyncio.create_task(second())
    await first_wrote.wait()
    await asyncio.sleep(0.5)  # well past the other engine's 0.2 s busy timeout
    before = ticks
    await asyncio.sleep(0.1)
    assert ticks > before, "the loop stopped: a writer reached SQLite's busy handler"
    assert not waiter.done()
    release.set()
    await asyncio.gather(writer, waiter)  # "database is locked" would surface here
    beat.cancel()
    async with store.session() as s:
        assert (await s.execute(sa.select(Agent.username))).scalars().all() == ["first"]
        assert (await s.execute(sa.select(SCRATCH.c.id))).scalars().all() == ["second"]
    await other.dispose()


async def test_readers_do_not_wait_for_a_writer(store: Store) -> None:
    release = asyncio.Event()
    wrote = asyncio.Event()

    async def writer() -> None:
        async with store.transaction() as s:
            s.add(Agent(id="a1", username="pending"))
            await s.flush()
            wrote.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await wrote.wait()
    async with asyncio.timeout(1), store.session() as s:  # WAL: the reader sees the last commit
        assert (await s.execute(sa.select(sa.func.count()).select_from(Agent))).scalar() == 0
    release.set()
    await task


async def test_a_read_only_transaction_takes_no_write_lock(store: Store) -> None:
    """An export streams inside a transaction for minutes: writers must not wait for it."""
    async with store.transaction() as reading:
        await reading.execute(sa.select(Agent.id))
        async with asyncio.timeout(1), store.transaction() as s:
            s.add(Agent(id="a1", username="written"))


@pytest.mark.parametrize("how", ["rollback", "error", "autocommit"])
async def test_the_lock_is_given_back(store: Store, tmp_path: Path, how: str) -> None:
    if how == "rollback":
        async with store.engine.connect() as conn:
            await conn.execute(sa.insert(SCRATCH).values(id="x"))
            await conn.rollback()
    elif how == "error":
        with pytest.raises(sa.exc.IntegrityError):
            async with store.transaction() as s:
                s.add_all([Agent(id="x", username="x"), Agent(id="y", username="x")])
    else:
        auto = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with auto.connect() as conn:
            await conn.execute(sa.insert(SCRATCH).values(id="x"))
    assert not sqlite_inline.write_lock(str(tmp_path / "hub.db")).locked()
    async with asyncio.timeout(1), store.transaction() as s:
        s.add(Agent(id="z", username="z"))


async def test_another_process_holding_the_lock_is_waited_out(store: Store, tmp_path: Path) -> None:
    """Another process (a CLI command) is the busy handler's job: a short hold is waited out."""
    holding = threading.Event()

    def cli() -> None:
        outside = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        outside.execute("BEGIN IMMEDIATE")
        outside.execute("INSERT INTO scratch VALUES ('cli')")
        holding.set()
        threading.Event().wait(0.2)
        outside.execute("COMMIT")
        outside.close()

    thread = threading.Thread(target=cli)
    thread.start()
    holding.wait()
    async with store.transaction() as s:
        s.add(Agent(id="a1", username="hub"))
    thread.join()
    async with store.session() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(Agent))).scalar() == 1
        assert (await s.execute(sa.select(SCRATCH.c.id))).scalars().all() == ["cli"]


async def test_a_long_run_of_statements_gives_the_loop_turns(store: Store) -> None:
    """A 1,000-row import batch never awaits anything real: without turns the loop (every
    console, every webhook) would stop until its transaction ends."""
    turns = 0
    running = True

    async def other_work() -> None:
        nonlocal turns
        while running:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    began = turns
    started = asyncio.get_running_loop().time()
    async with store.transaction() as s:
        for n in range(3000):
            await s.execute(sa.insert(SCRATCH).values(id=f"row{n}"))
    took = asyncio.get_running_loop().time() - started
    running = False
    await task
    assert took > 4 * sqlite_inline.YIELD_AFTER_S  # long enough to need turns
    assert turns - began >= took / sqlite_inline.YIELD_AFTER_S / 4


async def test_commits_leave_checkpoints_to_the_thread(store: Store, tmp_path: Path) -> None:
    """A commit crossing SQLite's default autocheckpoint (1,000 pages) synced the database on
    the loop's thread: 20 ms stalls in B1. The Checkpointer copies the WAL instead."""
    async with store.engine.connect() as conn:
        pages = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar()
    assert pages == sqlite_inline.AUTOCHECKPOINT_PAGES
    database = tmp_path / "hub.db"
    before = database.stat().st_size
    async with store.transaction() as s:
        for n in range(400):  # ~3,200 pages of WAL, past the default threshold
            await s.execute(sa.insert(SCRATCH).values(id=f"{n:04d}" + "x" * 8000))
    assert database.stat().st_size == before  # nothing copied by the commit itself
    checkpointer = store.checkpointer
    assert checkpointer is not None
    assert await asyncio.to_thread(checkpointer.wait_for_run, 10)
    assert database.stat().st_size > before + 3_000_000
    await store.close()
    assert not checkpointer.running  # stopped with the store


# A statement that keeps SQLite busy for a while: counting to three million.
SLOW_COUNT = sa.text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
    "SELECT count(*) FROM n"
)


async def loop_turns_during(read: AsyncIterator[Any]) -> tuple[int, int]:
    """How often the loop turned while `read` ran its slow statement, and its result."""
    turns = 0
    done = asyncio.Event()

    async def spin() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    spinner = asyncio.create_task(spin())
    await asyncio.sleep(0)
    try:
        async with read as session:
            counted = (await session.execute(SLOW_COUNT)).scalar_one()
    finally:
        done.set()
        await spinner
    return turns, counted


async def test_long_reads_run_off_the_loops_thread_and_cannot_write(store: Store) -> None:
    """The board's and the reports' reads (`report_session`) on SQLite: the loop goes on
    turning while they run, where an inline statement holds it for its whole length."""
    inline_turns, counted = await loop_turns_during(store.session())
    assert counted == 3_000_000 and inline_turns <= 20
    report_turns, counted = await loop_turns_during(store.report_session())
    assert counted == 3_000_000 and report_turns > 1000
    async with store.report_session() as session:
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            await session.execute(sa.insert(SCRATCH).values(id="x"))
