"""The seq up to which a conversation's agent has read: unread counts are the visitor's messages after it, the same
on every node and after a restart.

Revision ID: 0009_read_seq
Revises: 0008_prefer
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_read_seq"
down_revision = "0008_prefer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_seq", sa.Integer(), nullable=False, server_default="0"))
    # what was open before counts as read up to its last message: the old counts lived in memory
    op.execute("UPDATE conversations SET read_seq = last_seq")


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("read_seq")
