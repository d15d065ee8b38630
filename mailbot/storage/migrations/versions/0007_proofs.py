"""Trust nothing a mail claims: per-helpdesk address marks with expiry, signed envelope senders
(VERP tokens) on outbox rows, content digests on inbound rows, generated signing keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 22:30:00

``undeliverable`` was keyed by address alone, for the whole deployment, and any mail that looked
like a bounce could fill it. It is rebuilt keyed by (helpdesk, address); old rows are kept for the
helpdesk of their ticket (``default`` without one), as permanent marks, with their reason prefixed
so that ``mailbot addresses list`` shows where they came from (review them: some may be forged).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=False, server_default=''))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verp', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_verp'), ['verp'], unique=False)
    op.create_table(
        'signing_keys',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.rename_table('undeliverable', 'undeliverable_0006')
    op.create_table(
        'undeliverable',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('helpdesk', sa.String(length=32), nullable=False, server_default='default'),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('permanent', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('helpdesk', 'address', name='uq_undeliverable_helpdesk_address'),
    )
    op.execute(sa.text(
        "INSERT INTO undeliverable (helpdesk, address, reason, ticket_id, at, permanent, expires_at) "
        "SELECT COALESCE(t.helpdesk, 'default'), u.address, '(marked before 0007) ' || u.reason, u.ticket_id, u.at, "
        "true, NULL FROM undeliverable_0006 u LEFT JOIN tickets t ON t.id = u.ticket_id"))
    op.drop_table('undeliverable_0006')


def downgrade() -> None:
    op.rename_table('undeliverable', 'undeliverable_0007')
    op.create_table(
        'undeliverable',
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('address'),
    )
    op.execute(sa.text("INSERT INTO undeliverable (address, reason, ticket_id, at) "
                       "SELECT address, MIN(reason), MIN(ticket_id), MIN(at) FROM undeliverable_0007 "
                       "GROUP BY address"))
    op.drop_table('undeliverable_0007')
    op.drop_table('signing_keys')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_verp'))
        batch_op.drop_column('verp')
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_column('digest')
