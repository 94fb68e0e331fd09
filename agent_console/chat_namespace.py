"""Socket.IO namespace /chat for website visitors: signed sessions, own conversation only."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from agent_console.guarded import GuardedNamespace
from channels.base import ChannelError
from channels.web_chat import (
    CHAT_NS,
    Visitor,
    chat_contact,
    new_session,
    read_session,
    upload_contact,
    verified_customer,
    visitor_room,
)
from hub.actions.close_chat import close_chat
from hub.actions.mark_read import mark_read
from hub.actions.receive_contact import receive_contact
from hub.context import Hub
from hub.customers import find_customer
from hub.errors import HubError, Invalid, TooManyRequests
from hub.models import Agent, Interaction, Message
from hub.queue_position import queue_position
from hub.routing_snapshot import WAITING_STATES
from hub.staffing import someone_can_answer

log = logging.getLogger(__name__)
OPEN = ("queued", "offered", "assigned")
RATE_WITHIN_H = 24  # a chat the agent already closed can still be rated this long


def contact_fields(email: str, phone: str) -> dict[str, str]:
    """The widget's one "email or phone" field: an address with @ is an email, else a phone."""
    email, phone = email.strip(), phone.strip()
    if email and "@" not in email and not phone:
        email, phone = "", email
    return {"email": email, "phone": phone[:64]}


def _text(data: Any, key: str, limit: int) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    return value.strip()[:limit] if isinstance(value, str) else ""


class ChatNamespace(GuardedNamespace):
    def __init__(self, hub: Hub) -> None:
        super().__init__(CHAT_NS)
        self.hub = hub

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        cfg, secret = self.hub.settings.chat, self.hub.settings.secret_key
        auth = auth if isinstance(auth, dict) else {}
        visitor_id = read_session(secret, auth.get("token"))
        token = None
        if visitor_id is None:
            visitor_id, token = new_session(secret, cfg.session_ttl_s)
        site_customer = verified_customer(cfg.identity_secret, auth.get("identity"))
        visitor = Visitor(
            visitor_id=visitor_id,
            identity_kind="external" if site_customer else "chat",
            identity=f"site:{site_customer}" if site_customer else f"v-{visitor_id}",
            name=_text(auth, "name", 200),
            **contact_fields(_text(auth, "email", 320), _text(auth, "phone", 64)),
        )
        await self.save_session(sid, {"visitor": visitor, "ip": environ.get("REMOTE_ADDR", "")})
        await self.enter_room(sid, visitor_room(visitor.identity))
        self.hub.metrics.sockets.labels(CHAT_NS).inc()
        if token:
            await self.emit("session", {"token": token}, to=sid)
        await self.emit("history", await self._history(visitor), to=sid)

    async def on_disconnect(self, sid: str, *_: Any) -> None:
        self.hub.metrics.sockets.labels(CHAT_NS).dec()

    async def _open_interaction(
        self, visitor: Visitor, *, or_closed_since: datetime | None = None
    ) -> Interaction | None:
        """The visitor's open chat; with `or_closed_since`, else the one closed since then (the
        agent may end the chat before the visitor rates it)."""
        async with self.hub.store.session() as session:
            customer = await find_customer(session, visitor.identity_kind, visitor.identity)
            if customer is None:
                return None
            state_ok: Any = col(Interaction.state).in_(OPEN)
            if or_closed_since is not None:
                state_ok = state_ok | (
                    (col(Interaction.state) == "closed")
                    & (col(Interaction.closed_at) >= or_closed_since)
                )
            return (
                await session.exec(
                    select(Interaction)
                    .where(
                        Interaction.customer_id == customer.id,
                        Interaction.channel == "chat",
                        state_ok,
                    )
                    .order_by(col(Interaction.created_at).desc())
                )
            ).first()

    async def _history(self, visitor: Visitor) -> dict[str, Any]:
        """Only this visitor's open conversation: a typed email never unlocks anyone's history."""
        it = await self._open_interaction(visitor)
        available = await someone_can_answer(self.hub, self.hub.settings.chat.queue)
        if it is None:
            return {"messages": [], "agent": None, "available": available}
        async with self.hub.store.session() as session:
            rows = (
                await session.exec(
                    select(Message)
                    .where(
                        Message.interaction_id == it.id,
                        # Internal notes (transfer notes) are for agents only.
                        col(Message.direction).in_(("in", "out")),
                    )
                    .order_by(col(Message.created_at))
                    .limit(200)
                )
            ).all()
            agent = (
                await session.get(Agent, it.assigned_agent_id or "")
                if (it.assigned_agent_id)
                else None
            )
        return {
            "messages": [_visitor_message(m) for m in rows],
            "agent": (agent.display_name or agent.username) if agent else None,
            "available": available,
        }

    async def _visitor(self, sid: str) -> tuple[Visitor, str]:
        session = await self.get_session(sid)
        return session["visitor"], session["ip"]

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            visitor, ip = await self._visitor(sid)
            await self._rate_limit(visitor, ip)
            client_id = data.get("id") if isinstance(data, dict) else None
            contact = chat_contact(
                visitor,
                _text(data, "body", 100_000),
                max_chars=self.hub.settings.max_message_chars,
                client_id=client_id if isinstance(client_id, str) else None,
            )
            received = await receive_contact(
                self.hub, contact, queue_id=self.hub.settings.chat.queue
            )
            ranked = None
            # The receive path knows the state: a chat an agent holds has no position to read.
            if received.state in ("", *WAITING_STATES):
                try:
                    ranked = await queue_position(self.hub, received.interaction_id)
                except Exception as exc:  # stored already: an error now would invite a resend
                    log.warning("chat position unavailable (%s)", exc)
            return {
                "ok": True,
                "id": received.message_id,
                "position": ranked.position if ranked else None,
                "estimated_wait_s": ranked.estimated_wait_s if ranked else None,
            }
        except ChannelError as exc:
            return Invalid(str(exc)).to_dict()
        except HubError as exc:
            return exc.to_dict()

    async def on_upload(self, sid: str, data: Any = None) -> dict[str, Any]:
        """{name, data: <binary>}: an image or PDF from the visitor, checked by its bytes."""
        try:
            visitor, ip = await self._visitor(sid)
            await self._rate_limit(visitor, ip)
            payload = data if isinstance(data, dict) else {}
            contact = upload_contact(
                visitor,
                _text(payload, "name", 255),
                payload.get("data"),
                max_bytes=self.hub.settings.chat.max_upload_bytes,
            )
            received = await receive_contact(
                self.hub, contact, queue_id=self.hub.settings.chat.queue
            )
            return {"ok": True, "id": received.message_id, "name": contact.attachments[0].filename}
        except ChannelError as exc:
            return Invalid(str(exc)).to_dict()
        except HubError as exc:
            return exc.to_dict()

    async def on_read(self, sid: str, data: Any = None) -> dict[str, Any]:
        """The visitor has the agent's replies on screen."""
        visitor, _ip = await self._visitor(sid)
        it = await self._open_interaction(visitor)
        if it is not None:
            await mark_read(self.hub, it.id, "out")
        return {"ok": True}

    async def _rate_limit(self, visitor: Visitor, ip: str) -> None:
        cfg, state = self.hub.settings.chat, self.hub.routing_state
        if await state.hit(f"chat:v:{visitor.visitor_id}", 60) > cfg.max_messages_per_minute:
            raise TooManyRequests("you are sending messages too fast")
        if await state.hit(f"chat:ip:{ip}", 60) > cfg.max_messages_per_minute_per_ip:
            raise TooManyRequests("too many messages from your network")

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        visitor, _ip = await self._visitor(sid)
        it = await self._open_interaction(visitor)
        if it is not None and it.assigned_agent_id:
            await self.emit(
                "visitor.typing",
                {
                    "interaction_id": it.id,
                    "typing": bool(isinstance(data, dict) and data.get("typing")),
                },
                room=f"agent:{it.assigned_agent_id}",
                namespace="/agent",
            )
        return {"ok": True}

    async def on_position(self, sid: str, data: Any = None) -> dict[str, Any]:
        visitor, _ip = await self._visitor(sid)
        it = await self._open_interaction(visitor)
        ranked = await queue_position(self.hub, it.id) if it is not None else None
        return {
            "ok": True,
            "position": ranked.position if ranked else None,
            "estimated_wait_s": ranked.estimated_wait_s if ranked else None,
        }

    async def on_close(self, sid: str, data: Any = None) -> dict[str, Any]:
        """{rating?: 1-5, transcript?: true}: ends (or rates) the visitor's chat; the transcript
        goes to the email address the visitor gave in the pre-chat form."""
        visitor, _ip = await self._visitor(sid)
        since = self.hub.now() - timedelta(hours=RATE_WITHIN_H)
        it = await self._open_interaction(visitor, or_closed_since=since)
        rating = data.get("rating") if isinstance(data, dict) else None
        if rating is not None and (not isinstance(rating, int) or not 1 <= rating <= 5):
            return Invalid("a rating is 1 to 5").to_dict()
        transcript = bool(isinstance(data, dict) and data.get("transcript") is True)
        sent_to = None
        if it is not None:
            sent_to = await close_chat(self.hub, it.id, rating=rating, transcript=transcript)
        return {
            "ok": True,
            "message": self.hub.settings.chat.closing_message,
            "transcript_to": sent_to,
        }


def _visitor_message(m: Message) -> dict[str, Any]:
    """What a visitor may see of a message: no internal fields."""
    return {
        "id": m.id,
        "body": m.body,
        "direction": m.direction,
        "author": m.meta.get("author", ""),
        "at": m.created_at.isoformat(),
    }
