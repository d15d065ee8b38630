"""Full-text search over tickets (the web console's search): an FTS5 table on SQLite, a tsvector
table with a GIN index on PostgreSQL, triggers that keep it in step, documents for existing tickets;
indexes for the console's queue (tickets: helpdesk, state) and for numbers without prefix (seq)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 01:00:00

The index is not part of the models' metadata (neither backend's form fits it); its DDL lives in
``mailbot.storage.search`` because a new database gets it from there too (``store.create_at_head``).
Building the documents reads every ticket and its inbound mails once: on 100,000 tickets a few
tens of seconds.
"""

from __future__ import annotations

from alembic import op

from mailbot.storage import search

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_helpdesk_state', 'tickets', ['helpdesk', 'state'], unique=False)
    op.create_index('ix_tickets_seq', 'tickets', ['seq'], unique=False)
    # The triggers are created by migrations/env.py once every migration of the run has applied.
    search.install(op.get_bind(), triggers=False)


def downgrade() -> None:
    search.uninstall(op.get_bind())
    op.drop_index('ix_tickets_seq', table_name='tickets')
    op.drop_index('ix_tickets_helpdesk_state', table_name='tickets')
