"""Operations: per-mailbox status (last poll, errors, OAuth2 failures, the running service),
acknowledgement of failed outbox mail

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mailbox_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('mailbox', sa.String(length=320), nullable=False),
    sa.Column('server', sa.String(length=300), nullable=False),
    sa.Column('last_ok_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('auth_error', sa.Text(), nullable=False),
    sa.Column('auth_failed_at', sa.DateTime(), nullable=True),
    sa.Column('auth_notified_at', sa.DateTime(), nullable=True),
    sa.Column('auth_failures', sa.Integer(), nullable=False),
    sa.Column('run_started_at', sa.DateTime(), nullable=True),
    sa.Column('run_stopped_at', sa.DateTime(), nullable=True),
    sa.Column('run_pid', sa.Integer(), nullable=True),
    sa.Column('run_host', sa.String(length=255), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('acknowledged_at')
    op.drop_table('mailbox_status')
