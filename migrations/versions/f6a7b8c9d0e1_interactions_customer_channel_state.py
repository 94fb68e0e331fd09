"""interactions: index on (customer_id, channel, state) in place of customer_id alone

A batch of inbound messages looks up its customers' open conversations with
`customer_id IN (...) AND channel IN (...) AND state IN (...)`. Without statistics SQLite
judged one channel cheaper than several customers and walked the (channel, provider_ref)
unique index: every batch read every interaction of its channel ever stored. With all three
columns in one index the planner takes it; its customer_id prefix serves what the old index did.

Revision ID: f6a7b8c9d0e1
Revises: e5f6a7b8c9d0
Create Date: 2026-12-03 12:40:00.000000
"""
from alembic import op


revision = 'f6a7b8c9d0e1'
down_revision = 'e5f6a7b8c9d0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index(
            'ix_interactions_customer_channel_state',
            ['customer_id', 'channel', 'state'],
            unique=False,
        )
        batch_op.drop_index('ix_interactions_customer_id')


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_customer_id', ['customer_id'], unique=False)
        batch_op.drop_index('ix_interactions_customer_channel_state')
