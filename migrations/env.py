"""Alembic environment: the hub passes its own connection (it migrates on start)."""

from alembic import context
from sqlmodel import SQLModel

import hub.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m hub migrate` (it supplies the connection)")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
