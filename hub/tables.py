"""The Core tables behind the models, for statements on the hot paths.

An UPDATE written against an ORM entity and run on a session goes through the ORM's bulk-update
machinery (compile state, session synchronization); one built on the table, once, with bound
parameters, is compiled once and run as plain Core: every accept, wrap-up and routing pass runs
several (docs/performance.md).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from hub.models import (
    Agent,
    AuthToken,
    Customer,
    CustomerIdentity,
    Interaction,
    Message,
    Offer,
    OutboxEntry,
    Queue,
    RoutingFence,
    StoredAttachment,
)


def _table(model: type) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]


AGENTS = _table(Agent)
ATTACHMENTS_TABLE = _table(StoredAttachment)
AUTH_TOKENS = _table(AuthToken)
CUSTOMERS = _table(Customer)
IDENTITY_ROWS = _table(CustomerIdentity)
INTERACTIONS = _table(Interaction)
MESSAGES = _table(Message)
OFFERS = _table(Offer)
OUTBOX = _table(OutboxEntry)
QUEUES = _table(Queue)
ROUTING_FENCE = _table(RoutingFence)


def core(attribute: Any) -> sa.Column[Any]:
    """The table column behind a model attribute. A select built of these (and tables, not
    entities) runs as plain Core on a session; one naming a single model attribute takes the
    ORM's compile and loading path, a quarter more CPU per statement."""
    return attribute.property.columns[0]


class SecondsBetween(sa.sql.functions.GenericFunction[float]):
    """`later - earlier` in seconds, as a float, on both databases (a UTCDateTime column holds
    naive UTC). SQLite's date functions read to the millisecond."""

    type = sa.Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(SecondsBetween, "sqlite")
def _seconds_sqlite(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(SecondsBetween, "postgresql")
def _seconds_postgresql(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"
