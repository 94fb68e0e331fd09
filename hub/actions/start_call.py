"""Click-to-call: the agent calls a customer's number from the console.

The hub places one Twilio call to the agent (their browser client identity or phone) whose TwiML
dials the customer with our number as caller ID, so the agent is on the line before the customer's
phone rings. The call is an outbound voice interaction assigned to the agent (it takes their voice
capacity, shows in the customer's timeline and the call log) and is placed by the send relay from
the outbox, at most once (channels are not idempotent for calls: see hub/call_connector.py).
"""

from __future__ import annotations

from sqlmodel import select

from hub.context import Hub
from hub.customers import normalize_identity
from hub.errors import Conflict, Invalid, NotFound
from hub.events import InteractionAssigned
from hub.models import Agent, Customer, CustomerIdentity, Interaction, OutboxEntry


async def start_call(
    hub: Hub,
    agent_id: str,
    customer_id: str,
    number: str,
    *,
    task_id: str | None = None,
) -> Interaction:
    """`task_id`: a call-back task the agent holds; the call is placed on it, not on a new one."""
    region = hub.settings.default_region
    e164 = normalize_identity("phone", number, region)
    if e164 is None:
        raise Invalid(f"cannot read the phone number {number[:40]!r}")
    if hub.resources.get("twilio") is None or not hub.settings.twilio.from_number:
        raise Invalid("outbound calls need Twilio (twilio.account_sid and from_number)")
    blocked = {normalize_identity("phone", n, region) for n in hub.settings.cti.blocked_numbers}
    if e164 in blocked:
        raise Invalid("this number is on the blocked list")
    now = hub.now()
    async with hub.transaction() as tx:
        agent = await tx.session.get(Agent, agent_id)
        if agent is None:
            raise NotFound("no such agent")
        if not agent.client_identity and not agent.phone:
            raise Invalid("set a client identity or a phone number on your profile to call")
        customer = await tx.session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("no such customer")
        owned = (
            await tx.session.exec(
                select(CustomerIdentity).where(
                    CustomerIdentity.customer_id == customer_id,
                    CustomerIdentity.kind == "phone",
                    CustomerIdentity.value == e164,
                )
            )
        ).first()
        if owned is None:
            raise Invalid("that number is not one of this customer's numbers")
        if customer.consent.get("voice") is False:
            raise Invalid("the customer asked not to be called")
        busy = (
            await tx.session.exec(
                select(Interaction).where(
                    Interaction.assigned_agent_id == agent_id,
                    Interaction.channel == "voice",
                    Interaction.state == "assigned",
                    Interaction.id != (task_id or ""),
                )
            )
        ).first()
        if busy is not None:
            raise Conflict("finish your current call first", interaction_id=busy.id)
        if task_id:
            it = await tx.session.get(Interaction, task_id)
            if (
                it is None
                or it.assigned_agent_id != agent_id
                or it.state != "assigned"
                or it.channel != "voice"
                or it.provider_ref
            ):
                raise Conflict("this call-back task is not yours to call", interaction_id=task_id)
            it.customer_address = e164
            it.meta = {**it.meta, "source": "twilio", "outbound": True}
        else:
            it = Interaction(
                customer_id=customer_id,
                channel="voice",
                direction="out",
                state="assigned",
                queue_id=hub.settings.routing.default_queue,
                subject=f"Outbound call to {e164}",
                customer_address=e164,
                hub_address=hub.settings.twilio.from_number,
                assigned_agent_id=agent_id,
                assigned_at=now,
                enqueued_at=now,
                created_at=now,
                meta={"source": "twilio", "outbound": True, "started_at": now.isoformat()},
            )
        tx.session.add(it)
        await tx.session.flush()
        tx.session.add(
            OutboxEntry(
                kind="connect",
                payload={"interaction_id": it.id, "agent_id": agent_id, "action": "dial"},
                next_attempt_at=now,
            )
        )
        if not task_id:
            tx.emit(InteractionAssigned(interaction_id=it.id, agent_id=agent_id))
    hub.kick("sender")
    return it
