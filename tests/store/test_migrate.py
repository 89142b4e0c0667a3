"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kefu_host.store.engine import create_engines
from kefu_host.store.migrate import current_revision, head_revision, upgrade
from kefu_host.store.models import Base


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
