"""interactions: index (state, closed_at) instead of (state)

Every routing pass counts the voice calls closed in the last minutes that still wait for a
disposition; with an index on state alone that read every closed interaction ever.

Revision ID: c3d4e5f6a7b8
Revises: 70530682ae39
Create Date: 2026-12-01 21:00:00.000000
"""
from alembic import op


revision = 'c3d4e5f6a7b8'
down_revision = '70530682ae39'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_state_closed_at', ['state', 'closed_at'], unique=False)
        batch_op.drop_index('ix_interactions_state')


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_state', ['state'], unique=False)
        batch_op.drop_index('ix_interactions_state_closed_at')
