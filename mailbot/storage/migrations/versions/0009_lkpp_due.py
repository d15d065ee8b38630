"""LKPP's turnaround deadline on the ticket (issue 20): when LKPP's answer is due while it holds the ticket

Revision ID: 0009
Revises: 0008
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
    # A plain ADD COLUMN on both databases: a SQLite batch would recreate ``tickets``, which the
    # search index's triggers on other tables refer to (SQLite refuses the rename back).
    op.add_column('tickets', sa.Column('lkpp_due_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops an unindexed column in place; no table rebuild (see upgrade).
    op.execute('ALTER TABLE tickets DROP COLUMN lkpp_due_at')
