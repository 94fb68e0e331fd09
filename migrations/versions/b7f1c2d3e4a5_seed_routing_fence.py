"""seed the routing fence row

Every routing pass starts by bumping this row; it must exist before two passes can race to
create it (found by tests/integration/test_routing_concurrency.py).

Revision ID: b7f1c2d3e4a5
Revises: a2b424b01d70
Create Date: 2026-11-23 10:30:00
"""
from alembic import op


revision = 'b7f1c2d3e4a5'
down_revision = 'a2b424b01d70'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO routing_fence (id, token) SELECT 1, 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM routing_fence WHERE id = 1)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM routing_fence WHERE id = 1")
