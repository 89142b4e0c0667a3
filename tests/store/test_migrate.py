"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from kefu_host.store.engine import create_engines
from kefu_host.store.migrate import current_revision, head_revision, upgrade
from kefu_host.store.models import Base

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def test_migrations_match_the_models(db_url: str) -> None:
    engines = create_engines(db_url)
    try:
        assert await current_revision(engines.write) is None
        await upgrade(engines.write)
        assert await current_revision(engines.write) == head_revision()
        async with engines.write.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        assert diff == []
        await upgrade(engines.write)  # running again is a no-op
    finally:
        await engines.dispose()


def test_the_migrate_command(write_config: Callable[..., Path]) -> None:
    cfg = write_config()

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kefu_host", "--config", str(cfg), "migrate", *extra],
            capture_output=True, text=True, timeout=60,
        )

    pending = run("--check")
    assert pending.returncode == 1 and "database at empty" in pending.stdout
    done = run()
    assert done.returncode == 0 and f"empty -> {head_revision()}" in done.stdout
    assert run("--check").returncode == 0


async def test_a_customer_left_with_two_open_conversations_keeps_only_the_newest(db_url: str) -> None:
    """Nodes before 0007 could open two conversations for one customer; the index needs one, so the older are
    closed as duplicates (an agent holding one gets its seat back) and the rest is untouched."""
    engines = create_engines(db_url)
    try:
        await upgrade(engines.write, "0004_cluster")
        async with engines.write.begin() as conn:
            await conn.execute(text(
                "INSERT INTO agents (id, name, secret_hash, capacity, disabled, created_at, is_admin, load) "
                "VALUES (1, 'ann', 'x', 2, false, :now, false, 0)"), {"now": NOW})
            for customer in (1, 2):
                await conn.execute(text(
                    "INSERT INTO customers (id, vip_level, ltv_cents, tags, attributes, field_times, created_at, "
                    "updated_at) VALUES (:id, 0, 0, '[]', '{}', '{}', :now, :now)"), {"id": customer, "now": NOW})
            for cid, customer, status, agent in ((1, 1, "assigned", 1), (2, 1, "queued", None),
                                                 (3, 2, "closed", None), (4, 2, "assigned", 1)):
                await conn.execute(text(
                    "INSERT INTO conversations (id, customer_id, visitor_id, status, team, agent_id, priority, "
                    "channel, last_seq, transfers, tags, created_at, updated_at) VALUES (:id, :customer, 'v', "
                    ":status, 'support', :agent, 50, 'web', 0, 0, '[]', :now, :now)"),
                    {"id": cid, "customer": customer, "status": status, "agent": agent, "now": NOW})
        await upgrade(engines.write)
        async with engines.write.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT id, status, closed_by FROM conversations ORDER BY id"))).all()
            load = (await conn.execute(text("SELECT load FROM agents"))).scalar()
        assert rows == [(1, "closed", "duplicate"), (2, "queued", None), (3, "closed", None), (4, "assigned", None)]
        if engines.dialect == "postgresql":  # the trigger counts: ann holds conversation 4 only
            assert load == 1
    finally:
        await engines.dispose()
