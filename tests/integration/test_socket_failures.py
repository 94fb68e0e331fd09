"""While the database refuses connections a visitor's message gets an `unavailable` ack (the
widget says so and the visitor can resend) and a console's connect a `connect_error` saying
`unavailable`, never silence: an exception in a Socket.IO handler used to leave the client
waiting for an answer that never came (seen as B2 ack timeouts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import socketio

from hub.app import create_app
from tests.support.hubs import add_agent, hub_of, login
from tests.support.services import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER
from tests.support.visitor_client import VisitorClient

pytestmark = pytest.mark.postgres


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def refuse(name: str) -> None:
    await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def accept(name: str) -> None:
    await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.fixture
async def client(pg_url: str, aiohttp_client: Any, make_settings: Callable[..., Any]) -> Any:
    return await aiohttp_client(create_app(make_settings(database_url=pg_url)))


@pytest.fixture
async def visitor(client: Any, pg_url: str) -> AsyncIterator[tuple[VisitorClient, str]]:
    v = VisitorClient()
    await v.connect(str(client.make_url("/")), name="Vic")
    await v.next("history")
    yield v, pg_url.rsplit("/", 1)[1]
    await v.close()


async def test_a_message_while_the_database_refuses_is_answered_unavailable(
    visitor: tuple[VisitorClient, str],
) -> None:
    v, name = visitor
    await refuse(name)
    try:
        ack = await v.call("message", {"body": "is anyone there?"})
        assert ack["ok"] is False and ack["error"] == "unavailable", ack
        assert (await v.call("position", {}))["error"] == "unavailable"
    finally:
        await accept(name)
    ack = await v.call("message", {"body": "is anyone there?"})
    assert ack["ok"] is True, ack


async def refused_connect(client: Any, token: str) -> Any:
    """Connect a console that must be refused; returns its `connect_error` payload."""
    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("connect_error", refused.set_result, namespace="/agent")
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(
                str(client.make_url("/")),
                namespaces=["/agent"],
                auth={"token": token},
                transports=["websocket"],
                wait_timeout=5,
            )
        async with asyncio.timeout(5):
            return await refused
    finally:
        await sio.disconnect()


async def test_a_console_connecting_while_the_database_refuses_is_told_unavailable(
    client: Any, pg_url: str
) -> None:
    await add_agent(hub_of(client), "alice")
    token = await login(client, "alice")
    name = pg_url.rsplit("/", 1)[1]
    await refuse(name)
    try:
        assert (await refused_connect(client, token))["data"]["error"] == "unavailable"
    finally:
        await accept(name)


async def test_a_console_with_a_bad_token_reads_unauthorized_in_connect_error_data(
    client: Any,
) -> None:
    """The console logs out on `err.data.error === "unauthorized"` (socket.io-client's shape)."""
    got = await refused_connect(client, "not-a-token")
    assert got["data"]["error"] == "unauthorized" and got["message"], got
