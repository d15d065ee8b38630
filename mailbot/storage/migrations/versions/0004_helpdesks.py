"""Several helpdesks in one deployment: a helpdesk key on tickets, inbound, outbox and quarantine;
ticket numbers per helpdesk (seq); a Message-ID claimed once per helpdesk

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:30:00

On SQLite, batch mode recreates tickets, inbound and messages, which other rows reference: the
environment (env.py) runs migrations with foreign keys off and checks them at the end.
Rows from before belong to the helpdesk ``default`` (the key of a file without ``[[helpdesks]]``),
and each ticket's seq is its id, which is what its number was made from.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

#: Names for the unnamed UNIQUE constraints of 0001 as SQLite batch mode reflects them (PostgreSQL
#: named them <table>_<column>_key itself).
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name(table: str, column: str) -> str:
    return f"{table}_{column}_key" if op.get_bind().dialect.name == "postgresql" else f"uq_{table}_{column}"


def _helpdesk() -> sa.Column[str]:
    return sa.Column('helpdesk', sa.String(length=32), nullable=False, server_default='default')


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.add_column(_helpdesk())
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.drop_constraint(_unique_name('tickets', 'number'), type_='unique')
        batch_op.create_index(batch_op.f('ix_tickets_helpdesk'), ['helpdesk'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_number'), ['number'], unique=False)
    op.execute(sa.text("UPDATE tickets SET seq = id"))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint('uq_tickets_helpdesk_seq', ['helpdesk', 'seq'])

    with op.batch_alter_table('inbound', schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.add_column(_helpdesk())
        batch_op.drop_constraint(_unique_name('inbound', 'message_id'), type_='unique')
        batch_op.create_unique_constraint('uq_inbound_helpdesk_message_id', ['helpdesk', 'message_id'])

    with op.batch_alter_table('messages', schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.drop_constraint(_unique_name('messages', 'message_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_messages_message_id'), ['message_id'], unique=False)

    for table in ('outbox', 'quarantine'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_helpdesk())
            batch_op.create_index(batch_op.f(f'ix_{table}_helpdesk'), ['helpdesk'], unique=False)


def downgrade() -> None:
    # Only possible while every row is the default helpdesk's (numbers and Message-IDs unique again).
    for table in ('quarantine', 'outbox'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_helpdesk'))
            batch_op.drop_column('helpdesk')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_message_id'))
        batch_op.create_unique_constraint(_unique_name('messages', 'message_id'), ['message_id'])
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_constraint('uq_inbound_helpdesk_message_id', type_='unique')
        batch_op.create_unique_constraint(_unique_name('inbound', 'message_id'), ['message_id'])
        batch_op.drop_column('helpdesk')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint('uq_tickets_helpdesk_seq', type_='unique')
        batch_op.drop_index(batch_op.f('ix_tickets_number'))
        batch_op.drop_index(batch_op.f('ix_tickets_helpdesk'))
        batch_op.create_unique_constraint(_unique_name('tickets', 'number'), ['number'])
        batch_op.drop_column('seq')
        batch_op.drop_column('helpdesk')
