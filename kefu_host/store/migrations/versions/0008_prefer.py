"""A waiting conversation keeps the agent its placement preferred, so that any node handing it out of the queue later
(a seat freed, re-queued after its agent's grace period) offers it to that agent first, as one process does.

Revision ID: 0008_prefer
Revises: 0007_one_open
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_prefer"
down_revision = "0007_one_open"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preferred_agent", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("preferred_agent")
