"""LKPP's turnaround deadline on the ticket (issue 20): when LKPP's answer is due while it holds the ticket

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06 00:45:00

A deadline column like the others (``service.deadlines.store_status`` keeps it from the events);
NULL on every existing row until its next refresh, as for a ticket LKPP does not hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lkpp_due_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('lkpp_due_at')
