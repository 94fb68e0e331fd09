"""The alembic migrations produce exactly the schema hub/models.py declares, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers the tables)
from hub.store import Store

pytestmark = pytest.mark.postgres


async def test_migrations_match_the_models(db_url: str) -> None:
    store = Store(db_url)
    try:
        await store.migrate()
        await store.migrate()  # idempotent: a restart migrates again
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
    finally:
        await store.close()
    # PostgreSQL-only trigram indexes live in the migrations alone (SQLite has no pg_trgm).
    diff = [d for d in diff if not (d[0] == "remove_index" and d[1].name.endswith("_trgm"))]
    assert diff == [], f"models and migrations differ; run scripts/make_migration.py: {diff}"
