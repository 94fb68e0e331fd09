"""interactions: excluded_until (exclusions lapse)

An agent who rejected an interaction or let its offer time out was skipped for it forever: once
every available agent had passed on it, it waited in the queue with nobody to offer it to. The
exclusions now hold until `excluded_until`; rows without it have none in force.

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-12-02 19:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

import hub.models

revision = 'd4e5f6a7b8c9'
down_revision = 'c3d4e5f6a7b8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excluded_until', hub.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_column('excluded_until')
