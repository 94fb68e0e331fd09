"""An agent replies through the interaction's own channel: message + outbox row in one commit."""

from __future__ import annotations

from typing import Any

from hub.context import Hub, Tx
from hub.customers import normalize_identity
from hub.errors import Conflict, Invalid, NotFound
from hub.events import MessageCreated
from hub.models import Agent, Customer, Interaction, Message, OutboxEntry


def check_reply(hub: Hub, body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise Invalid("the reply is empty")
    if len(body) > hub.settings.max_message_chars:
        raise Invalid(f"the reply is longer than {hub.settings.max_message_chars} characters")
    return body


async def send_reply(
    hub: Hub, agent_id: str, interaction_id: str, body: str, *, subject: str = ""
) -> Message:
    body = check_reply(hub, body)
    now = hub.now()
    async with hub.transaction() as tx:
        interaction = await tx.session.get(Interaction, interaction_id)
        if interaction is None:
            raise NotFound("no such interaction")
        if interaction.assigned_agent_id != agent_id or interaction.state != "assigned":
            raise Conflict("this interaction is not assigned to you")
        channel, meta = reply_route(hub, interaction)
        customer = await tx.session.get(Customer, interaction.customer_id)
        if customer is not None and customer.consent.get(channel) is False:
            raise Conflict(f"the customer opted out of {channel}; use another channel")
        meta["author"] = await _author(tx, agent_id)
        message = Message(
            interaction_id=interaction.id,
            channel=channel,
            direction="out",
            sender=interaction.hub_address,
            author_agent_id=agent_id,
            subject=(subject or interaction.subject)[:500],
            body=body,
            status="queued",
            created_at=now,
            meta=meta,
        )
        tx.session.add(message)
        tx.session.add(
            OutboxEntry(
                kind="send",
                payload={"message_id": message.id, "interaction_id": interaction.id},
                next_attempt_at=now,
            )
        )
        tx.emit(
            MessageCreated(message_id=message.id, interaction_id=interaction.id, direction="out")
        )
    hub.kick("sender")
    return message


def reply_route(hub: Hub, it: Interaction) -> tuple[str, dict[str, Any]]:
    """The channel a reply leaves on: the interaction's own, except a chat message left while
    nobody could answer (the visitor is gone), answered by email or SMS to the address the
    visitor gave in the pre-chat form."""
    if it.channel != "chat" or not it.meta.get("offline"):
        return it.channel, {}
    email, phone = str(it.meta.get("contact_email") or ""), str(it.meta.get("contact_phone") or "")
    if "@" in email and "email" in hub.channels:
        return "email", {"to": email, "via": "email"}
    number = normalize_identity("phone", phone, hub.settings.default_region) if phone else None
    if number and "sms" in hub.channels:
        return "sms", {"to": number, "via": "sms"}
    return "chat", {}


async def _author(tx: Tx, agent_id: str) -> str:
    """The name a customer sees (chat shows it); never the username."""
    agent = await tx.session.get(Agent, agent_id)
    return (agent.display_name or "Agent")[:200] if agent else "Agent"
