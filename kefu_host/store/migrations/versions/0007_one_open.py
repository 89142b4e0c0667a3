"""At most one open conversation per customer, held by the database: a partial unique index on ``customer_id`` over
the conversations that are not closed.

One process opens a customer's conversation under its own lock; several nodes each read "no conversation yet" and
insert, so two tabs of a new visitor landing on two nodes could open two. With the index the second insert finds the
first (``ON CONFLICT DO NOTHING``) and that node reads the winner's conversation instead.

Rows from before the index may already hold such pairs: all but the customer's newest open conversation (the one
visitors and agents were shown) are closed with ``closed_by = 'duplicate'``.

Revision ID: 0007_one_open
Revises: 0004_cluster
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kefu_host.store.models import UTCDateTime, utcnow

revision = "0007_one_open"
down_revision = "0004_cluster"
branch_labels = None
depends_on = None

_OPEN = sa.text("status <> 'closed'")


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE conversations SET status = 'closed', closed_by = 'duplicate', closed_at = :now, updated_at = :now "
        "WHERE status <> 'closed' AND EXISTS (SELECT 1 FROM conversations newer WHERE newer.customer_id = "
        "conversations.customer_id AND newer.status <> 'closed' AND newer.id > conversations.id)"
    ).bindparams(sa.bindparam("now", utcnow(), type_=UTCDateTime())))
    op.create_index("uq_conversations_open_customer", "conversations", ["customer_id"], unique=True,
                    postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade() -> None:
    op.drop_index("uq_conversations_open_customer", table_name="conversations")
