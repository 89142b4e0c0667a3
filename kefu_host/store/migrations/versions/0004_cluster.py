"""Who holds what, in the database, for several nodes: agent load with a CHECK, agents' sessions with heartbeats,
the queue's index.

``agents.load`` counts the agent's assigned conversations. On PostgreSQL a trigger on ``conversations`` keeps it
(whatever statement assigns, closes or re-queues), and the CHECK makes an assignment past capacity fail in the
database even if the code asking for it is wrong. SQLite runs one process, whose memory decides; it gets the columns
without the trigger.

Revision ID: 0004_cluster
Revises: 0006_desk
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kefu_host.store.models import UTCDateTime

revision = "0004_cluster"
down_revision = "0006_desk"
branch_labels = None
depends_on = None

_LOAD_FUNCTION = """
CREATE OR REPLACE FUNCTION kefu_agent_load() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'assigned' AND OLD.agent_id IS NOT NULL THEN
    UPDATE agents SET load = load - 1 WHERE id = OLD.agent_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'assigned' AND NEW.agent_id IS NOT NULL THEN
    UPDATE agents SET load = load + 1 WHERE id = NEW.agent_id;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("load", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_assigned_at", UTCDateTime(), nullable=True))
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.String(length=191), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("node_id", sa.String(length=191), nullable=False),
        sa.Column("wish", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_agent_sessions_agent_id_agents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
    )
    op.create_index(op.f("ix_agent_sessions_agent_id"), "agent_sessions", ["agent_id"])
    op.create_index(op.f("ix_agent_sessions_node_id"), "agent_sessions", ["node_id"])
    op.create_index("ix_conversations_queue", "conversations", ["team", "status", "priority", "queued_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE agents SET load = (SELECT count(*) FROM conversations c WHERE c.agent_id = agents.id "
        "AND c.status = 'assigned')"
    )
    # existing rows may hold more than their capacity (the old code counted in memory): raise it to fit
    op.execute("UPDATE agents SET capacity = load WHERE load > capacity")
    op.create_check_constraint("ck_agents_load_within_capacity", "agents", "load >= 0 AND load <= capacity")
    op.execute(_LOAD_FUNCTION)
    op.execute(
        "CREATE TRIGGER conversations_agent_load AFTER INSERT OR DELETE OR UPDATE OF status, agent_id "
        "ON conversations FOR EACH ROW EXECUTE FUNCTION kefu_agent_load()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS conversations_agent_load ON conversations")
        op.execute("DROP FUNCTION IF EXISTS kefu_agent_load()")
        op.drop_constraint("ck_agents_load_within_capacity", "agents", type_="check")
    op.drop_index("ix_conversations_queue", table_name="conversations")
    op.drop_index(op.f("ix_agent_sessions_node_id"), table_name="agent_sessions")
    op.drop_index(op.f("ix_agent_sessions_agent_id"), table_name="agent_sessions")
    op.drop_table("agent_sessions")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("last_assigned_at")
        batch_op.drop_column("load")
