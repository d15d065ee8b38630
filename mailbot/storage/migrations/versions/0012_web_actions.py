"""Console actions (issue 23): the idempotency tokens of the forms that acted

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 01:40:00

A form of the console carries a random token; the action stores it in ``web_actions`` in its own
transaction, so a double submit finds it and does not act twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token'),
    )


def downgrade() -> None:
    op.drop_table('web_actions')
