"""Real PostgreSQL and Redis for tests: a fresh database per test (from a migrated template).

With CI=true a missing service fails the test instead of skipping it, so a red service can never
turn into a green run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import NoReturn

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_HOST = os.environ.get("CRMHUB_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CRMHUB_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CRMHUB_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("CRMHUB_TEST_PG_DB", "test")
REDIS_URL = os.environ.get("CRMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def missing(service: str, exc: BaseException) -> NoReturn:
    message = f"{service} is not reachable ({type(exc).__name__}: {exc})"
    if CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(sql: str) -> None:
    """Retries CREATE ... TEMPLATE while another session briefly holds the template (a busy
    machine with several test runs), instead of failing the test that needed the database."""
    import asyncpg

    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB, timeout=30
    )
    try:
        for attempt in range(20):
            try:
                await conn.execute(sql)
                return
            except asyncpg.ObjectInUseError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.25)
    finally:
        await conn.close()


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def create_template() -> str:
    """A migrated database that per-test databases are cloned from (CREATE ... TEMPLATE)."""
    from hub.store import Store

    name = f"crmhub_tpl_{secrets.token_hex(4)}"
    try:
        run(_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        missing("PostgreSQL", exc)

    async def migrate() -> None:
        store = Store(pg_url(name))
        try:
            await store.migrate()
        finally:
            await store.close()

    run(migrate())
    return name


def clone_database(template: str) -> str:
    name = f"crmhub_t_{secrets.token_hex(5)}"
    run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return name


def drop_database(name: str) -> None:
    run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def check_redis() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


def drop_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
