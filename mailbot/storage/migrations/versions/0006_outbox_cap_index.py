"""The per-recipient cap's index covers the helpdesk (outbox: to_key, helpdesk, created_at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 05:50:00

The cap on automatic mail counts each helpdesk's own mail; with separate to_key and helpdesk
indexes SQLite used the helpdesk one and scanned that helpdesk's whole outbox.
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_to_key_helpdesk', 'outbox', ['to_key', 'helpdesk', 'created_at'], unique=False)
    op.drop_index('ix_outbox_to_key', table_name='outbox')


def downgrade() -> None:
    op.create_index('ix_outbox_to_key', 'outbox', ['to_key'], unique=False)
    op.drop_index('ix_outbox_to_key_helpdesk', table_name='outbox')
