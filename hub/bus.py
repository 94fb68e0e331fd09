"""EventBus Protocol with an in-process and a Redis Streams implementation.

Why Redis Streams and not pub/sub: pub/sub is at-most-once (a process that is down or slow loses
messages). A stream with consumer groups gives each group every event, each event to one consumer
of the group, keeps un-acknowledged entries pending, and lets another consumer claim them when a
process dies (XAUTOCLAIM): at-least-once, which the idempotent consumers turn into exactly-once
effects. The database outbox covers the gap between commit and publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hub.events import Event, UnknownEvent, from_wire
from hub.shutdown import Shutdown

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event: Event


class EventBus(Protocol):
    async def ensure_group(self, group: str) -> None:
        """Create `group` so it receives every event published from now on."""
        ...

    async def publish(self, event: Event) -> None: ...

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        """New events for `group`, plus events another consumer took and never acknowledged."""
        ...

    async def ack(self, group: str, ids: Sequence[str]) -> None: ...

    async def backlog(self, group: str) -> int:
        """Events of `group` not yet acknowledged: delivered and pending, or not yet read."""
        ...

    async def close(self) -> None: ...


class InMemoryBus:
    """The embedded default: one process, a log per group, pending entries reclaimed after idle."""

    def __init__(self, claim_after_s: float = 30.0, max_log: int = 100_000) -> None:
        self.claim_after_s = claim_after_s
        self.max_log = max_log
        self._groups: dict[str, _Group] = {}
        self._seq = 0

    async def ensure_group(self, group: str) -> None:
        self._group(group)

    def _group(self, name: str) -> _Group:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _Group()
        return group

    async def publish(self, event: Event) -> None:
        self._seq += 1
        entry_id = f"{self._seq}-0"
        for group in self._groups.values():
            group.new.append((entry_id, event))
            if len(group.new) > self.max_log:
                group.new.pop(0)
            group.wake.set()

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        state = self._group(group)
        deadline = time.monotonic() + block_s
        while True:
            out = state.take(consumer, count, self.claim_after_s)
            remaining = deadline - time.monotonic()
            if out or remaining <= 0:
                return out
            state.wake.clear()
            try:
                await asyncio.wait_for(
                    state.wake.wait(), timeout=min(remaining, self.claim_after_s)
                )
            except TimeoutError:
                continue

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        state = self._group(group)
        for entry_id in ids:
            state.pending.pop(entry_id, None)

    async def backlog(self, group: str) -> int:
        state = self._group(group)
        return len(state.new) + len(state.pending)

    async def close(self) -> None:
        return None


class _Group:
    def __init__(self) -> None:
        self.new: list[tuple[str, Event]] = []
        self.pending: dict[str, tuple[Event, str, float]] = {}  # id -> event, consumer, since
        self.wake = asyncio.Event()

    def take(self, consumer: str, count: int, claim_after_s: float) -> list[Delivery]:
        now = time.monotonic()
        out: list[Delivery] = []
        for entry_id, (event, owner, since) in list(self.pending.items()):
            if len(out) >= count:
                break
            if owner != consumer and now - since >= claim_after_s:
                self.pending[entry_id] = (event, consumer, now)
                out.append(Delivery(entry_id, event))
        while self.new and len(out) < count:
            entry_id, event = self.new.pop(0)
            self.pending[entry_id] = (event, consumer, now)
            out.append(Delivery(entry_id, event))
        return out


class RedisBus:
    """Redis Streams: one stream, one consumer group per subscriber kind (routing, console...)."""

    def __init__(
        self,
        redis: Any,
        stream: str = "crmhub:events",
        claim_after_s: float = 30.0,
        max_len: int = 100_000,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.claim_after_ms = int(claim_after_s * 1000)
        self.max_len = max_len
        self._known_groups: set[str] = set()

    async def ensure_group(self, group: str, start: str = "$") -> None:
        if group in self._known_groups:
            return
        try:
            await self.redis.xgroup_create(self.stream, group, id=start, mkstream=True)
        except Exception as exc:  # redis.ResponseError; BUSYGROUP means it exists already
            if "BUSYGROUP" not in str(exc):
                raise
        self._known_groups.add(group)

    async def publish(self, event: Event) -> None:
        data = json.dumps(event.to_wire(), separators=(",", ":"))
        await self.redis.xadd(self.stream, {"e": data}, maxlen=self.max_len, approximate=True)

    async def read(
        self, group: str, consumer: str, *, count: int = 100, block_s: float = 1.0
    ) -> list[Delivery]:
        await self.ensure_group(group)
        try:
            return await self._read(group, consumer, count, block_s)
        except Exception as exc:  # redis.ResponseError
            if "NOGROUP" not in str(exc):
                raise
        # Redis restarted empty (stream and groups gone): recreate the group from the start of
        # the new stream, so events other processes published since the restart are not skipped.
        log.warning("bus group %s vanished (Redis restarted empty?); recreating it", group)
        self._known_groups.discard(group)
        await self.ensure_group(group, start="0")
        return []

    async def _read(self, group: str, consumer: str, count: int, block_s: float) -> list[Delivery]:
        claimed = await self.redis.xautoclaim(
            self.stream,
            group,
            consumer,
            min_idle_time=self.claim_after_ms,
            start_id="0-0",
            count=count,
        )
        entries = list(claimed[1]) if claimed else []
        if not entries:
            result = await self.redis.xreadgroup(
                group, consumer, {self.stream: ">"}, count=count, block=max(1, int(block_s * 1000))
            )
            for _stream, items in result or []:
                entries.extend(items)
        out, bad = self._decode(group, entries)
        if bad:  # acknowledged, or XAUTOCLAIM would hand them out forever
            await self.ack(group, bad)
        return out

    def _decode(self, group: str, entries: list[Any]) -> tuple[list[Delivery], list[str]]:
        out: list[Delivery] = []
        bad: list[str] = []
        for entry_id, fields in entries:
            if not fields:  # trimmed away while pending
                bad.append(_text(entry_id))
                continue
            raw = fields.get(b"e") or fields.get("e")
            try:
                event = from_wire(json.loads(raw))
            except (UnknownEvent, ValueError, TypeError) as exc:
                log.warning("dropping undecodable bus entry %s in %s: %s", entry_id, group, exc)
                bad.append(_text(entry_id))
                continue
            out.append(Delivery(_text(entry_id), event))
        return out, bad

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        if ids:
            await self.redis.xack(self.stream, group, *ids)

    async def backlog(self, group: str) -> int:
        """XINFO GROUPS: `lag` (entries not yet delivered to the group, Redis 7) + `pending`."""
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except Exception as exc:  # redis.ResponseError: no such stream yet
            if "no such key" in str(exc).lower():
                return 0
            raise
        for info in groups:
            if _text(info.get("name", b"")) == group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return 0

    async def close(self) -> None:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


Handler = Callable[[list[Event]], Awaitable[None]]


async def consume(
    bus: EventBus,
    group: str,
    consumer: str,
    handler: Handler,
    *,
    block_s: float = 1.0,
    shutdown: Shutdown | None = None,
    on_backlog: Callable[[int], None] | None = None,
) -> None:
    """Feed batches to `handler` forever; ack after it returns. Errors are logged with backoff.

    A batch whose handler fails is still acknowledged: every consumer here is backed by state in
    the database (routing re-reads it on its ticker, consoles re-sync from snapshots), so a poison
    event must not be redelivered forever.
    """
    backoff = 0.1
    shutdown = shutdown or Shutdown()
    while not shutdown.requested:
        try:
            deliveries = await bus.read(group, consumer, block_s=block_s)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("bus read failed for %s; retrying in %.1fs", group, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
            continue
        backoff = 0.1
        if not deliveries:
            if on_backlog is not None:
                on_backlog(0)  # a read that found nothing: the group is caught up
            continue
        with shutdown.step():  # at shutdown, a batch in hand is finished and acknowledged
            try:
                await handler([d.event for d in deliveries])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s handler failed on %d events", group, len(deliveries))
            try:
                await bus.ack(group, [d.id for d in deliveries])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bus ack failed for %s (entries will be redelivered)", group)
            if on_backlog is not None:
                with contextlib.suppress(Exception):  # a metric; never stop consuming for it
                    on_backlog(await bus.backlog(group))
