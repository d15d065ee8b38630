"""The web console (issue 22): sign-in links, sessions, the audit trail; the queue's deadline column and indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:30:00

``tickets.next_due_at`` is the earliest running deadline of a ticket (resolution, priority, call,
analysis, LKPP's answer); it is filled here from the stored deadline columns and kept by
``service.deadlines.store_status`` from then on. ``ix_tickets_queue`` (helpdesk, state,
next_due_at) answers the console's queue (one helpdesk's open tickets by deadline) from the
index; ``ix_tickets_requester_opened`` a requester's earlier tickets, ``ix_tickets_helpdesk_opened``
the day's intake, ``ix_tickets_closed`` the closed tickets newest first, ``ix_events_kind_ticket``
the tickets ever escalated (LKPP's view).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_DEADLINES = ('due_at', 'priority_due_at', 'call_due_at', 'analysis_due_at', 'lkpp_due_at')


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN and CREATE INDEX (SQLite has both): no batch copy of the tickets
    # table, which triggers on other tables that name it (the search index's) would not survive.
    op.add_column('tickets', sa.Column('next_due_at', sa.DateTime(), nullable=True))
    op.create_index('ix_tickets_queue', 'tickets', ['helpdesk', 'state', 'next_due_at'], unique=False)
    op.create_index('ix_tickets_requester_opened', 'tickets', ['requester', 'opened_at'], unique=False)
    op.create_index('ix_tickets_helpdesk_opened', 'tickets', ['helpdesk', 'opened_at'], unique=False)
    op.create_index('ix_tickets_closed', 'tickets', ['helpdesk', 'state', 'closed_at'], unique=False)
    op.create_index('ix_events_kind_ticket', 'events', ['kind', 'ticket_id'], unique=False)
    # The earliest of the stored deadlines (closed tickets have none running).
    bind = op.get_bind()
    tickets = sa.table('tickets', sa.column('id', sa.Integer), sa.column('state', sa.String),
                       sa.column('next_due_at', sa.DateTime), *(sa.column(c, sa.DateTime) for c in _DEADLINES))
    rows = bind.execute(sa.select(tickets.c.id, *(tickets.c[c] for c in _DEADLINES))
                        .where(tickets.c.state != 'closed')).all()
    updates = []
    for row in rows:
        values = [v for v in row[1:] if v is not None]
        if values:
            updates.append({'tid': row[0], 'due': min(values)})
    if updates:
        bind.execute(sa.update(tickets).where(tickets.c.id == sa.bindparam('tid'))
                     .values(next_due_at=sa.bindparam('due')), updates)
    op.create_table(
        'web_signin_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_table(
        'web_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)
    op.create_table(
        'web_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_web_audit_address_at', 'web_audit', ['address', 'at'], unique=False)
    op.create_index('ix_web_audit_client_at', 'web_audit', ['client', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_web_audit_client_at', table_name='web_audit')
    op.drop_index('ix_web_audit_address_at', table_name='web_audit')
    op.drop_table('web_audit')
    op.drop_index(op.f('ix_web_sessions_expires_at'), table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_table('web_signin_links')
    op.drop_index('ix_events_kind_ticket', table_name='events')
    op.drop_index('ix_tickets_closed', table_name='tickets')
    op.drop_index('ix_tickets_helpdesk_opened', table_name='tickets')
    op.drop_index('ix_tickets_requester_opened', table_name='tickets')
    op.drop_index('ix_tickets_queue', table_name='tickets')
    op.drop_column('tickets', 'next_due_at')  # SQLite 3.35+ drops a column in place
