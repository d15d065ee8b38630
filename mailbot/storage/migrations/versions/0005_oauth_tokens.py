"""Rotated OAuth2 refresh tokens survive a restart (oauth_tokens)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_tokens',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('refresh_token', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('oauth_tokens')
