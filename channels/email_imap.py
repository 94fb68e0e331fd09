"""Read one IMAP mailbox with aioimaplib: UIDVALIDITY + last-UID checkpoints, IDLE or polling."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aioimaplib

log = logging.getLogger(__name__)

OnMessage = Callable[[bytes, int], Awaitable[None]]
UIDVALIDITY_RE = re.compile(rb"\[UIDVALIDITY (\d+)\]")
FETCH_START_RE = re.compile(rb"^\d+ FETCH \(")
UID_RE = re.compile(rb"\bUID (\d+)")
CONNECTION_LOST = [b"crmhub: connection lost"]
IMAP_ERRORS = (aioimaplib.AioImapException, OSError, TimeoutError, ValueError)


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """One `[[email.mailboxes]]` entry; idle_timeout_s stays under the 29-minute IDLE limit."""

    host: str
    port: int = 993
    username: str = ""
    password: str = field(default="", repr=False)  # never in logs or reprs
    mailbox: str = "INBOX"
    use_ssl: bool = True
    poll_s: float = 60.0
    idle_timeout_s: float = 1500.0

    @property
    def key(self) -> str:
        """Checkpoint key: the same mailbox name on another account is another mailbox."""
        return f"{self.username}@{self.host}:{self.port}/{self.mailbox}"


class CheckpointStore(Protocol):
    """Where (UIDVALIDITY, last delivered UID) survives restarts; the hub keeps it in its DB."""

    async def load(self, mailbox_key: str) -> tuple[int | None, int]: ...

    async def save(self, mailbox_key: str, uidvalidity: int, last_uid: int) -> None: ...


class InMemoryCheckpointStore:
    def __init__(self) -> None:
        self.data: dict[str, tuple[int, int]] = {}

    async def load(self, mailbox_key: str) -> tuple[int | None, int]:
        return self.data.get(mailbox_key, (None, 0))

    async def save(self, mailbox_key: str, uidvalidity: int, last_uid: int) -> None:
        self.data[mailbox_key] = (uidvalidity, last_uid)


class ImapError(Exception):
    """The server refused LOGIN/SELECT/FETCH (bad credentials, missing mailbox)."""


class HandlerError(Exception):
    """on_message raised: the message stays unacknowledged and is fetched again later."""

    def __init__(self, uid: int) -> None:
        super().__init__(f"on_message failed for uid {uid}")
        self.uid = uid


class ImapMailboxWorker:
    """At-least-once delivery in UID order; the hub dedupes on Message-ID, so nothing is lost."""

    def __init__(
        self,
        settings: ImapSettings,
        store: CheckpointStore,
        on_message: OnMessage,
        *,
        batch_size: int = 25,
        command_timeout_s: float = 60.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.on_message = on_message
        self.batch_size = batch_size
        self.command_timeout_s = command_timeout_s
        self.max_backoff_s = max_backoff_s
        self.idling = asyncio.Event()  # set while IDLE is active (observability, tests)

    async def run_once(self) -> int:
        """Connect, deliver everything new, log out; returns the number of messages delivered."""
        client, uidvalidity = await self._connect()
        try:
            return await self._sync(client, uidvalidity)
        finally:
            await self._logout(client)

    async def run(self) -> None:
        """Forever: sync, then wait (IDLE or poll); reconnect with capped exponential backoff."""
        backoff = 1.0
        while True:
            try:
                client, uidvalidity = await self._connect()
                try:
                    while True:
                        await self._sync(client, uidvalidity)
                        backoff = 1.0
                        await self._wait_for_news(client)
                finally:
                    await self._logout(client)
            except (*IMAP_ERRORS, ImapError, HandlerError) as exc:
                log.warning(
                    "imap %s: %s: %s; retrying in %.0fs",
                    self.settings.key,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _connect(self) -> tuple[aioimaplib.IMAP4, int]:
        s = self.settings
        cls = aioimaplib.IMAP4_SSL if s.use_ssl else aioimaplib.IMAP4
        client = cls(host=s.host, port=s.port, timeout=self.command_timeout_s)
        client.protocol.conn_lost_cb = lambda _exc: _connection_lost(client.protocol)
        try:
            await client.wait_hello_from_server()
            _check(await client.login(s.username, s.password), "LOGIN")
            selected = _check(await client.select(s.mailbox), "SELECT")
        except BaseException:
            await self._logout(client)
            raise
        return client, parse_uidvalidity(selected.lines)

    async def _sync(self, client: aioimaplib.IMAP4, uidvalidity: int) -> int:
        """Deliver UIDs above the checkpoint in order, saving after each successful callback."""
        key = self.settings.key
        saved_validity, last_uid = await self.store.load(key)
        if saved_validity != uidvalidity:
            if saved_validity is not None:
                log.warning("imap %s: UIDVALIDITY %s -> %s", key, saved_validity, uidvalidity)
            last_uid = 0
            await self.store.save(key, uidvalidity, 0)
        uids = await self._new_uids(client, last_uid)
        delivered = 0
        for start in range(0, len(uids), self.batch_size):
            chunk = uids[start : start + self.batch_size]
            fetched = _check(
                await client.uid("fetch", ",".join(map(str, chunk)), "(UID RFC822)"), "FETCH"
            )
            for uid, raw in parse_fetch(fetched.lines):
                if uid <= last_uid:
                    continue
                await self._deliver(raw, uid)
                await self.store.save(key, uidvalidity, uid)
                last_uid, delivered = uid, delivered + 1
        return delivered

    async def _new_uids(self, client: aioimaplib.IMAP4, last_uid: int) -> list[int]:
        # "n:*" always matches the highest UID, even when n is above it: filter.
        found = _check(await client.uid_search("UID", f"{last_uid + 1}:*", charset=None), "SEARCH")
        return sorted(uid for uid in parse_search(found.lines) if uid > last_uid)

    async def _deliver(self, raw: bytes, uid: int) -> None:
        try:
            await self.on_message(raw, uid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the callback is the hub's code: any failure means "retry"
            raise HandlerError(uid) from exc

    async def _wait_for_news(self, client: aioimaplib.IMAP4) -> None:
        if not client.has_capability("IDLE"):
            await asyncio.sleep(self.settings.poll_s)
            return
        idle: asyncio.Future[Any] | None = None
        try:
            idle = await client.idle_start(timeout=self.settings.idle_timeout_s)
            self.idling.set()
            await self._wait_push(client)
        finally:  # also on cancellation, possibly inside idle_start: never leave IDLE pending
            self.idling.clear()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                _drop(client)  # shutting down: a graceful DONE/LOGOUT would stall the shutdown
            else:
                await self._end_idle(client, idle)

    async def _wait_push(self, client: aioimaplib.IMAP4) -> None:
        """Return on EXISTS (new mail) or when idle_timeout_s elapsed (aioimaplib's stop push)."""
        while True:
            push = await client.wait_server_push(timeout=self.settings.idle_timeout_s + 30)
            if push is CONNECTION_LOST:
                raise ConnectionError("connection lost while idling")
            if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                return
            if any(isinstance(line, bytes) and line.endswith(b"EXISTS") for line in push):
                return

    async def _end_idle(self, client: aioimaplib.IMAP4, idle: asyncio.Future[Any] | None) -> None:
        if not client.has_pending_idle() or _closed(client):
            return
        try:
            client.idle_done()
            if idle is not None:
                await asyncio.wait_for(idle, timeout=self.command_timeout_s)
        except IMAP_ERRORS as exc:
            log.debug("imap %s: ending IDLE failed: %s", self.settings.key, exc)

    async def _logout(self, client: aioimaplib.IMAP4) -> None:
        if _closed(client):  # a dead connection would only time out
            return
        try:
            await asyncio.wait_for(client.logout(), timeout=5)
        except IMAP_ERRORS as exc:
            log.debug("imap %s: logout failed: %s", self.settings.key, exc)


def _drop(client: aioimaplib.IMAP4) -> None:
    transport = client.protocol.transport
    if transport is not None:
        transport.close()


def _closed(client: aioimaplib.IMAP4) -> bool:
    transport = client.protocol.transport
    return transport is None or transport.is_closing()


def _check(response: Any, what: str) -> Any:
    if response.result != "OK":
        raise ImapError(f"{what} failed: {response.result}")
    return response


def parse_uidvalidity(lines: Sequence[bytes | bytearray]) -> int:
    for line in lines:
        match = UIDVALIDITY_RE.search(bytes(line))
        if match:
            return int(match.group(1))
    raise ImapError("SELECT response has no UIDVALIDITY")


def parse_search(lines: Sequence[bytes | bytearray]) -> list[int]:
    """UIDs from a SEARCH reply (aioimaplib strips the "SEARCH" keyword; tolerate it anyway)."""
    uids: list[int] = []
    for line in lines[:-1]:  # the last line is the tagged completion text
        tokens = bytes(line).split()
        if tokens[:1] == [b"SEARCH"]:
            tokens = tokens[1:]
        if tokens and all(token.isdigit() for token in tokens):
            uids.extend(int(token) for token in tokens)
    return uids


def parse_fetch(lines: Sequence[bytes | bytearray]) -> list[tuple[int, bytes]]:
    """(uid, raw) in UID order from aioimaplib's FETCH lines (literals arrive as bytearray)."""
    groups: list[list[bytes | bytearray]] = []
    for line in lines:
        if isinstance(line, bytes) and FETCH_START_RE.match(line):
            groups.append([line])
        elif groups:
            groups[-1].append(line)
    out: list[tuple[int, bytes]] = []
    for group in groups:
        literal = next((item for item in group if isinstance(item, bytearray)), None)
        uids = [m for item in group if isinstance(item, bytes) for m in UID_RE.findall(item)]
        uid = uids[0] if uids else None
        if literal is not None and uid is not None:
            out.append((int(uid), bytes(literal)))
    return sorted(out)


def _connection_lost(protocol: Any) -> None:
    """A dropped link fails the commands in flight at once (aioimaplib would otherwise let a
    FETCH wait for its full command timeout) and wakes an IDLE wait."""
    protocol.idle_queue.put_nowait(CONNECTION_LOST)
    pending = [protocol.pending_sync_command, *protocol.pending_async_commands.values()]
    for command in pending:
        if command is not None:
            command.close(b"connection lost", "NO")
