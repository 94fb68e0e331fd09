"""The Core tables behind the models, for statements on the hot paths.

An UPDATE written against an ORM entity and run on a session goes through the ORM's bulk-update
machinery (compile state, session synchronization); one built on the table, once, with bound
parameters, is compiled once and run as plain Core: every accept, wrap-up and routing pass runs
several (docs/performance.md).
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.models import (
    Agent,
    AuthToken,
    Customer,
    CustomerIdentity,
    Interaction,
    Message,
    Offer,
    OutboxEntry,
    RoutingFence,
)


def _table(model: type) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]


AGENTS = _table(Agent)
AUTH_TOKENS = _table(AuthToken)
CUSTOMERS = _table(Customer)
IDENTITY_ROWS = _table(CustomerIdentity)
INTERACTIONS = _table(Interaction)
MESSAGES = _table(Message)
OFFERS = _table(Offer)
OUTBOX = _table(OutboxEntry)
ROUTING_FENCE = _table(RoutingFence)
