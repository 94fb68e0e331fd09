"""Socket.IO namespace /agent: token auth on connect, one handler per console command, all acked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agent_console.broadcaster import AGENT_NS, agent_room, customer_room
from agent_console.guarded import GuardedNamespace, refusal
from agent_console.presenter import agent_dict, agent_state, message_dict
from hub.actions.handle_offer import accept_offer, reject_offer
from hub.actions.hang_up import hang_up
from hub.actions.mark_read import mark_read
from hub.actions.send_reply import send_reply
from hub.actions.set_agent_status import set_agent_status
from hub.actions.start_call import start_call
from hub.actions.transfer_interaction import transfer_interaction
from hub.actions.wrap_up import wrap_up
from hub.auth import agent_for_token, agent_id_for_token
from hub.context import Hub
from hub.errors import HubError, Invalid, NotFound
from hub.origins import same_origin

Ack = dict[str, Any]


def _field(data: Any, name: str, *, required: bool = True, limit: int = 200) -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise Invalid(f"'{name}' is required")
    if len(value) > limit:
        raise Invalid(f"'{name}' is too long")
    return value


class AgentNamespace(GuardedNamespace):
    """Every client event returns an ack: {"ok": true, ...} or {"ok": false, "error", "message"}."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(AGENT_NS)
        self.hub = hub

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Dotted event names (`call.start`) reach `on_call_start`."""
        return await super().trigger_event(event.replace(".", "_"), *args)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin and not same_origin(self.hub.settings, origin, environ):
            raise refusal({"ok": False, "error": "forbidden", "message": "wrong origin"})
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            agent = await agent_for_token(self.hub, token if isinstance(token, str) else None)
        except HubError as exc:
            raise refusal(exc.to_dict()) from None
        await self.save_session(sid, {"agent_id": agent.id, "token": token})
        await self.enter_room(sid, agent_room(agent.id))
        self.hub.metrics.sockets.labels(AGENT_NS).inc()
        async with self.hub.store.session() as session:
            await self.emit("state", await agent_state(session, agent, self.hub.settings), to=sid)

    async def on_disconnect(self, sid: str, *_: Any) -> None:
        self.hub.metrics.sockets.labels(AGENT_NS).dec()

    async def _run(self, sid: str, work: Callable[[str], Awaitable[Ack]]) -> Ack:
        try:
            session = await self.get_session(sid)
            # Re-checked on every command: a revoked or expired token stops working at once.
            agent_id = await agent_id_for_token(self.hub, session.get("token"))
            return {"ok": True, **await work(agent_id)}
        except HubError as exc:
            return exc.to_dict()

    async def on_status(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            status = _field(data, "status", limit=16)
            reason = _field(data, "reason", required=False, limit=100)
            return {"agent": agent_dict(await set_agent_status(self.hub, agent_id, status, reason))}

        return await self._run(sid, work)

    async def on_accept(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            it = await accept_offer(self.hub, agent_id, _field(data, "interaction_id", limit=64))
            return {"interaction_id": it}

        return await self._run(sid, work)

    async def on_reject(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            await reject_offer(self.hub, agent_id, _field(data, "interaction_id", limit=64))
            return {}

        return await self._run(sid, work)

    async def on_reply(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            message = await send_reply(
                self.hub,
                agent_id,
                _field(data, "interaction_id", limit=64),
                _field(data, "body", limit=self.hub.settings.max_message_chars),
                subject=_field(data, "subject", required=False, limit=500),
            )
            return {"message": message_dict(message)}

        return await self._run(sid, work)

    async def on_wrapup(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            await wrap_up(
                self.hub,
                agent_id,
                _field(data, "interaction_id", limit=64),
                _field(data, "disposition", limit=64),
                _field(data, "note", required=False, limit=2000),
            )
            return {}

        return await self._run(sid, work)

    async def on_transfer(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            await transfer_interaction(
                self.hub,
                agent_id,
                _field(data, "interaction_id", limit=64),
                queue_id=_field(data, "queue_id", required=False, limit=64) or None,
                to_agent_id=_field(data, "agent_id", required=False, limit=64) or None,
                note=_field(data, "note", required=False, limit=2000),
            )
            return {}

        return await self._run(sid, work)

    async def on_hangup(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            await hang_up(self.hub, agent_id, _field(data, "interaction_id", limit=64))
            return {}

        return await self._run(sid, work)

    async def on_call_start(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            it = await start_call(
                self.hub,
                agent_id,
                _field(data, "customer_id", limit=64),
                _field(data, "number", limit=40),
                task_id=_field(data, "interaction_id", required=False, limit=64) or None,
            )
            return {"interaction_id": it.id}

        return await self._run(sid, work)

    async def on_read(self, sid: str, data: Any = None) -> Ack:
        """The agent has the visitor's messages on screen: the widget shows them as seen."""

        async def work(agent_id: str) -> Ack:
            from channels.web_chat import CHAT_NS, visitor_room
            from hub.models import Interaction

            interaction_id = _field(data, "interaction_id", limit=64)
            async with self.hub.store.session() as session:
                it = await session.get(Interaction, interaction_id)
            if it is None or it.assigned_agent_id != agent_id or it.channel != "chat":
                raise Invalid("read state is kept for your own chats only")
            if await mark_read(self.hub, it.id, "in"):
                await self.server.emit(
                    "read", {}, room=visitor_room(it.customer_address), namespace=CHAT_NS
                )
            return {}

        return await self._run(sid, work)

    async def on_typing(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            from channels.web_chat import CHAT_NS, visitor_room
            from hub.models import Interaction

            interaction_id = _field(data, "interaction_id", limit=64)
            async with self.hub.store.session() as session:
                it = await session.get(Interaction, interaction_id)
            if it is None or it.assigned_agent_id != agent_id or it.channel != "chat":
                raise Invalid("typing is shown in your own chats only")
            typing = bool(isinstance(data, dict) and data.get("typing"))
            await self.server.emit(
                "typing",
                {"typing": typing},
                room=visitor_room(it.customer_address),
                namespace=CHAT_NS,
            )
            return {}

        return await self._run(sid, work)

    async def on_watch_customer(self, sid: str, data: Any = None) -> Ack:
        """The console opened a customer page: live `customer.changed` for that customer only."""

        async def work(agent_id: str) -> Ack:
            from hub.models import Customer

            customer_id = _field(data, "customer_id", limit=64)
            async with self.hub.store.session() as session:
                if await session.get(Customer, customer_id) is None:
                    raise NotFound("no such customer")
            for room in self.rooms(sid, AGENT_NS):
                if room.startswith("customer:"):
                    await self.leave_room(sid, room)
            await self.enter_room(sid, customer_room(customer_id))
            return {}

        return await self._run(sid, work)

    async def on_sync(self, sid: str, data: Any = None) -> Ack:
        async def work(agent_id: str) -> Ack:
            from hub.models import Agent

            async with self.hub.store.session() as session:
                agent = await session.get(Agent, agent_id)
                assert agent is not None
                return {"state": await agent_state(session, agent, self.hub.settings)}

        return await self._run(sid, work)
