"""SLA clocks: deadline columns on tickets, the table of sent SLA notifications

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_TICKET_TIMES = ("due_at", "paused_since", "priority_due_at", "call_due_at", "analysis_due_at", "remind_at",
                 "autoclose_at", "sla_next_at", "sla_checked_at")


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        for name in _TICKET_TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tickets_sla_next_at'), ['sla_next_at'], unique=False)

    op.create_table('sla_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('clock', sa.String(length=20), nullable=False),
    sa.Column('percent', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.DateTime(), nullable=True),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('sla_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_notices_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sla_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_notices_ticket_id'))
    op.drop_table('sla_notices')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_sla_next_at'))
        for name in reversed(_TICKET_TIMES):
            batch_op.drop_column(name)
