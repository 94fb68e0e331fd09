"""The agent ends a Twilio call from the console. The hangup goes through the outbox (so a crash
between the click and Twilio's answer still ends the call); Twilio's status callback then closes
the interaction, which waits for the agent's disposition."""

from __future__ import annotations

from hub.context import Hub
from hub.errors import Conflict, Invalid, NotFound
from hub.models import Interaction, OutboxEntry


async def hang_up(hub: Hub, agent_id: str, interaction_id: str) -> None:
    async with hub.transaction() as tx:
        it = await tx.session.get(Interaction, interaction_id)
        if it is None:
            raise NotFound("no such interaction")
        if it.assigned_agent_id != agent_id or it.state != "assigned":
            raise Conflict("this call is not yours", interaction_id=interaction_id)
        if it.channel != "voice":
            raise Invalid("only calls can be hung up")
        if it.meta.get("source") != "twilio" or not it.provider_ref:
            raise Invalid("this call runs on the phone system: hang up on your phone")
        if it.meta.get("ended_at"):
            return  # already over; the status callback closed it
        tx.session.add(
            OutboxEntry(
                kind="connect",
                payload={"interaction_id": it.id, "agent_id": agent_id, "action": "hangup"},
                next_attempt_at=hub.now(),
            )
        )
    hub.kick("sender")
