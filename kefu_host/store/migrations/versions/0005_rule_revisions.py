"""One rule revision for the cluster: published revisions with their files, the active pointer, node heartbeats.

Revision ID: 0005_rule_revisions
Revises: 0003_notes
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_rule_revisions"
down_revision = "0003_notes"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rule_revisions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=191), nullable=False),
        sa.Column("origin", sa.String(length=191), nullable=False),
        sa.Column("directory", sa.String(length=1024), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.Integer(), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("default_rules", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_revisions")),
    )
    with op.batch_alter_table("rule_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_revisions_revision"), ["revision"], unique=False)

    op.create_table(
        "rule_files",
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("revision", "path", name=op.f("pk_rule_files")),
    )
    op.create_table(
        "rule_active",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision_id", _ID, nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["revision_id"], ["rule_revisions.id"],
                                name=op.f("fk_rule_active_revision_id_rule_revisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_active")),
    )
    op.create_table(
        "rule_nodes",
        sa.Column("node_id", sa.String(length=191), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_revision", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_rule_nodes")),
    )


def downgrade() -> None:
    op.drop_table("rule_nodes")
    op.drop_table("rule_active")
    op.drop_table("rule_files")
    with op.batch_alter_table("rule_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_revisions_revision"))
    op.drop_table("rule_revisions")
