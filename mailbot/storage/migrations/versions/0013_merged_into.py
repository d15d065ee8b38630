"""Merged tickets: a duplicate ticket closed into the ticket that carries on (``#gabung``)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:30:00

``tickets.merged_into_id`` names the ticket a duplicate was merged into; the user's later mail in
the duplicate's thread goes there. NULL on every existing row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (as 0009): a SQLite batch would recreate ``tickets``, which the search
    # index's triggers refer to. No foreign key: SQLite cannot add one to an existing table; the
    # service only ever writes the id of a ticket of the same helpdesk.
    op.add_column('tickets', sa.Column('merged_into_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE tickets DROP COLUMN merged_into_id')
