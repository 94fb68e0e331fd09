"""Socket.IO namespace /supervisor: supervisors and admins only; the board is pushed to them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agent_console.broadcaster import SUPERVISOR_NS, peek_room
from agent_console.guarded import GuardedNamespace, refusal
from agent_console.presenter import interaction_dict, messages_of
from hub.actions.reassign_interaction import reassign_interaction
from hub.auth import agent_for_token
from hub.board import board
from hub.board_traffic import TrafficTally
from hub.context import Hub
from hub.customers import customer_card
from hub.errors import Forbidden, HubError, Invalid, NotFound
from hub.models import Agent, AuditLog, Interaction
from hub.origins import same_origin

ROOM = "supervisors"
Ack = dict[str, Any]


def _text(data: Any, name: str, *, required: bool = True) -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > 64:
        raise Invalid(f"'{name}' is required (at most 64 characters)")
    return value


def stable_part(board: dict[str, Any]) -> dict[str, Any]:
    """What a push compares: clocks that tick every second are not changes; the counts behind
    them are."""
    stable = {k: v for k, v in board.items() if k not in ("at", "agents")}
    stable["agents"] = [
        {k: v for k, v in a.items() if k not in ("in_state_s", "unanswered_s")}
        for a in board["agents"]
    ]
    return stable


class SupervisorNamespace(GuardedNamespace):
    def __init__(self, hub: Hub) -> None:
        super().__init__(SUPERVISOR_NS)
        self.hub = hub
        self.watchers = 0
        self._last: dict[str, Any] | None = None  # the stable part of the last board pushed
        self.traffic = TrafficTally()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        origin = environ.get("HTTP_ORIGIN")
        try:
            if origin and not same_origin(self.hub.settings, origin, environ):
                raise Forbidden("wrong origin")
            token = auth.get("token") if isinstance(auth, dict) else None
            agent = await agent_for_token(self.hub, token if isinstance(token, str) else None)
            if agent.role not in ("supervisor", "admin"):
                raise Forbidden("the supervisor board needs the supervisor role")
        except HubError as exc:
            raise refusal(exc.to_dict()) from None
        await self.save_session(sid, {"token": token})
        await self.enter_room(sid, ROOM)
        self.watchers += 1
        async with self.hub.store.report_session() as session:
            await self.emit("board", await board(session, self.hub.now(), self.traffic), to=sid)

    async def _supervisor(self, sid: str) -> Agent:
        """Re-checked on every command: a revoked token or a demoted role stops working at once."""
        session = await self.get_session(sid)
        agent = await agent_for_token(self.hub, session.get("token"))
        if agent.role not in ("supervisor", "admin"):
            raise Forbidden("supervisors only")
        return agent

    async def _run(self, sid: str, work: Callable[[Agent], Awaitable[Ack]]) -> Ack:
        try:
            return {"ok": True, **await work(await self._supervisor(sid))}
        except HubError as exc:
            return exc.to_dict()

    async def on_reassign(self, sid: str, data: Any = None) -> Ack:
        """{interaction_id, agent_id} or {interaction_id, queue_id}."""

        async def work(supervisor: Agent) -> Ack:
            it = await reassign_interaction(
                self.hub,
                supervisor,
                _text(data, "interaction_id"),
                to_agent_id=_text(data, "agent_id", required=False) or None,
                queue_id=_text(data, "queue_id", required=False) or None,
            )
            return {"interaction": interaction_dict(it)}

        return await self._run(sid, work)

    async def on_peek(self, sid: str, data: Any = None) -> Ack:
        """A read-only look at a live conversation: its messages now, then `peek.message` and
        `peek.updated` as they happen. There is no way to write from here."""

        async def work(supervisor: Agent) -> Ack:
            interaction_id = _text(data, "interaction_id")
            async with self.hub.store.session() as session:
                it = await session.get(Interaction, interaction_id)
                if it is None:
                    raise NotFound("no such interaction")
                messages = await messages_of(session, it.id)
                customer = await customer_card(session, it.customer_id)
            async with self.hub.store.transaction() as session:
                session.add(
                    AuditLog(actor=supervisor.username, action="interaction.peek", target=it.id)
                )
            for room in self.rooms(sid, SUPERVISOR_NS):
                if room.startswith("peek:"):
                    await self.leave_room(sid, room)
            await self.enter_room(sid, peek_room(it.id))
            return {"interaction": interaction_dict(it), "customer": customer, "messages": messages}

        return await self._run(sid, work)

    async def on_unpeek(self, sid: str, data: Any = None) -> Ack:
        async def work(supervisor: Agent) -> Ack:
            for room in self.rooms(sid, SUPERVISOR_NS):
                if room.startswith("peek:"):
                    await self.leave_room(sid, room)
            return {}

        return await self._run(sid, work)

    async def on_disconnect(self, sid: str, *_: Any) -> None:
        self.watchers = max(0, self.watchers - 1)

    async def push(self) -> None:
        """Called by a throttled loop (every 2 s): one aggregate for every watcher, and only when
        something changed; never one refetch per event."""
        if not self.watchers:
            return
        async with self.hub.store.report_session() as session:
            data = await board(session, self.hub.now(), self.traffic)
        # Compared as it is: a sorted JSON digest of B2's floor (2,000 assigned chats) cost
        # 1.3-2.7 ms of the loop per tick, the comparison 0.07-0.14 ms.
        stable = stable_part(data)
        if stable != self._last:
            self._last = stable
            # To this process's own watchers only: every process with watchers pushes, and
            # through the Redis manager each push reached every supervisor of the cluster, so
            # with two processes each supervisor got every board twice.
            await self.emit("board", data, room=ROOM, ignore_queue=True)
