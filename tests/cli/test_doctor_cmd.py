"""``kefu-host doctor``: every problem in plain words and exit 1; a good deployment exits 0."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from kefu_host.cli import main
from kefu_host.config import database_url, load_config
from kefu_host.store.engine import create_engines
from kefu_host.store.migrate import alembic_config, head_revision, upgrade

GOOD_RULE = 'rule default.general priority -1000\n  when true\n  then assign_team "support"\nend\n'


@dataclass
class Ran:
    code: int
    out: str


@pytest.fixture
def doctor(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    def run(config: Path, *args: str) -> Ran:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config), "doctor", *args])
        return Ran(int(exited.value.code or 0), capsys.readouterr().out)

    return run


@pytest.fixture
def deployment(write_config: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """A config with a rules directory holding one good rule and a database migrated to ``revision``."""

    def make(extra: str = "", *, revision: str | None = "head", db_url: str | None = None,
             migrate_on_start: bool = False) -> Path:
        path = write_config(extra, db_url=db_url)
        setting = f"migrate_on_start = {str(migrate_on_start).lower()}"
        text = path.read_text().replace("[database]\n", f"[database]\n{setting}\n")
        path.write_text(text, encoding="utf-8")
        (tmp_path / "rules" / "default.rule").write_text(GOOD_RULE, encoding="utf-8")
        if revision is not None:
            asyncio.run(_migrate(database_url(load_config(path, environ={})), revision))
        return path

    return make


async def _migrate(url: str, revision: str) -> None:
    engines = create_engines(url)
    try:
        await upgrade(engines.write, revision)
    finally:
        await engines.dispose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def test_a_good_deployment_passes(doctor: Callable[..., Ran], deployment: Callable[..., Path]) -> None:
    ran = doctor(deployment())
    assert ran.code == 0, ran.out
    assert "FAIL" not in ran.out and ran.out.rstrip().endswith("no problems found")
    assert f"the schema is current ({head_revision()})" in ran.out


def test_a_broken_database_url_is_named_without_its_password(
    doctor: Callable[..., Ran], deployment: Callable[..., Path]
) -> None:
    url = f"postgresql+asyncpg://kefu:hunter2@127.0.0.1:{closed_port()}/kefu"
    ran = doctor(deployment(revision=None), "--db", url)
    assert ran.code == 1
    line = next(line for line in ran.out.splitlines() if line.startswith("FAIL  database"))
    assert "cannot connect to postgresql+asyncpg://kefu:***@127.0.0.1" in line and "hunter2" not in ran.out
    assert "SKIP  migrations  the database is unreachable" in ran.out


def test_a_pending_migration_is_a_problem_when_the_host_will_not_migrate(
    doctor: Callable[..., Ran], deployment: Callable[..., Path]
) -> None:
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    ran = doctor(deployment(revision=previous))
    assert ran.code == 1
    assert (f"FAIL  migrations  the database is at {previous}, this version needs {head_revision()}, and "
            "database.migrate_on_start is off: run kefu-host migrate") in ran.out


def test_a_pending_migration_the_host_applies_at_start_is_only_a_warning(
    doctor: Callable[..., Ran], deployment: Callable[..., Path], tmp_path: Path
) -> None:
    ran = doctor(deployment(revision=None, migrate_on_start=True))
    assert ran.code == 0, ran.out
    assert "WARN  migrations  the database is empty" in ran.out
    assert not (tmp_path / "kefu.db").exists()  # the doctor looks; it creates nothing


def test_a_broken_rule_file_is_reported_at_file_line_column(
    doctor: Callable[..., Ran], deployment: Callable[..., Path], tmp_path: Path
) -> None:
    config = deployment()
    (tmp_path / "rules" / "broken.rule").write_text(
        'rule vip.high priority 500\n  when customer.ltv >= 10000\n  assign_team "vip"\nend\n', encoding="utf-8")
    ran = doctor(config)
    assert ran.code == 1
    fail = next(line for line in ran.out.splitlines() if line.startswith("FAIL  rules"))
    assert f"{tmp_path / 'rules' / 'broken.rule'}:3:" in fail, ran.out
    assert 'assign_team "vip"' in ran.out  # the source line under it, with a caret
    assert ran.out.rstrip().endswith("1 problem found")


def test_a_bad_configuration_is_one_problem_not_a_crash(
    doctor: Callable[..., Ran], deployment: Callable[..., Path]
) -> None:
    config = deployment(revision=None)
    config.write_text(config.read_text().replace("port = 0", 'port = "eighty"'), encoding="utf-8")
    ran = doctor(config)
    assert ran.code == 1
    assert ran.out.startswith("FAIL  config") and "server.port" in ran.out


def test_dev_secrets_on_a_public_address_are_a_problem(
    doctor: Callable[..., Ran], deployment: Callable[..., Path]
) -> None:
    config = deployment()
    text = config.read_text().replace('host = "127.0.0.1"', 'host = "0.0.0.0"')
    config.write_text(text.replace('admin_token = "test-admin-token"', 'admin_token = "dev-admin"'),
                      encoding="utf-8")
    ran = doctor(config)
    assert ran.code == 1
    assert "FAIL  secrets     " in ran.out and "secrets.admin_token" in ran.out


def test_a_plugin_that_fails_to_load_is_named(
    doctor: Callable[..., Ran], deployment: Callable[..., Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("raise RuntimeError('no config for you')\n", encoding="utf-8")
    ran = doctor(deployment(), "--plugin", str(broken))
    assert ran.code == 1
    assert "FAIL  plugins     broken_plugin" in ran.out and "no config for you" in ran.out


def test_redis_unreachable_and_reachable(
    doctor: Callable[..., Ran], deployment: Callable[..., Path], redis_url: str
) -> None:
    down = doctor(deployment(f'[events.redis]\nurl = "redis://127.0.0.1:{closed_port()}/0"\n'))
    assert down.code == 1 and "FAIL  redis       cannot reach redis://127.0.0.1:" in down.out
    up = doctor(deployment(f'[events.redis]\nurl = "{redis_url}"\n', revision=None))
    assert "OK    redis       " in up.out, up.out


def test_postgresql_current_schema_passes(
    doctor: Callable[..., Ran], deployment: Callable[..., Path], pg_url: str
) -> None:
    ran = doctor(deployment(db_url=pg_url))
    assert ran.code == 0, ran.out
    assert "OK    database    postgresql+asyncpg://" in ran.out
