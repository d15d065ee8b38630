"""Workers share the mailboxes of a deployment: leases with expiry, and the workers' heartbeats

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 01:00:00

``mailbox_leases``: one row per mailbox watched under ``[workers] share_mailboxes`` (PostgreSQL),
held by one worker until it expires; ``worker_beats``: the live workers, whose number sets each
one's fair share (``mailbot.ops.leases``). Both start empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'worker_beats',
        sa.Column('worker', sa.String(length=200), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('worker'),
    )
    op.create_index(op.f('ix_worker_beats_expires_at'), 'worker_beats', ['expires_at'], unique=False)
    op.create_table(
        'mailbox_leases',
        sa.Column('mailbox', sa.String(length=400), nullable=False),
        sa.Column('helpdesk', sa.String(length=32), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('acquired_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('mailbox'),
    )


def downgrade() -> None:
    op.drop_table('mailbox_leases')
    op.drop_index(op.f('ix_worker_beats_expires_at'), table_name='worker_beats')
    op.drop_table('worker_beats')
