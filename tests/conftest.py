"""Shared fixtures: settings on a temp SQLite file, real PostgreSQL / Redis, the app under test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.settings import Settings
from tests.support import services
from tests.support.fake_twilio import FakeTwilio, start_fake_twilio

TEST_PUBLIC_URL = "https://hub.test.example"
TEST_AUTH_TOKEN = "test-twilio-auth-token"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = services.create_template()
    yield name
    services.drop_database(name)


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = services.clone_database(pg_template)
    yield services.pg_url(name)
    services.drop_database(name)


@pytest.fixture
def redis_url() -> Iterator[str]:
    yield services.check_redis()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"crmhub-test:{secrets.token_hex(4)}:"
    yield prefix
    services.drop_redis_prefix(prefix)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test hub: temp SQLite, in-process bus, no background loops unless asked."""

    def make(**overrides: Any) -> Settings:
        twilio = {
            "account_sid": "AC" + "0" * 32,
            "auth_token": TEST_AUTH_TOKEN,
            "from_number": "+15550001111",
            "api_base_url": "http://127.0.0.1:9",
        }
        twilio.update(overrides.pop("twilio", {}))
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
            "redis_url": "",
            "public_base_url": TEST_PUBLIC_URL,
            "run_background": False,
            "demo_data": False,
            "twilio": twilio,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a storage test on both supported databases.

    Request it *before* aiohttp_client: fixtures are torn down in reverse order, and a database
    dropped under a running app made its shutdown hang (seen once in CI in test_cti)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """The local server standing in for Twilio's REST API (records requests, fails on demand)."""
    async with start_fake_twilio() as fake:
        yield fake
