"""``kefu-host doctor``'s checks: what stands between this configuration and a host that starts and serves.

Each check answers with :class:`Finding` values in plain words. Nothing is written: no database file, schema,
secrets file or Redis key is created; a check that cannot run because an earlier one failed says so.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kefu_host.config import GENERATED_SECRETS, Config, ConfigError, database_url, resolve_path
from kefu_host.config.secrets import refuse_dev_secrets_off_loopback, secrets_path
from kefu_host.store.engine import sqlite_path

#: Seconds a database or Redis may take to answer before it counts as unreachable.
TIMEOUT = 5.0
Level = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the report: ``fail`` is a problem (exit 1), ``warn`` worth knowing, ``skip`` not checked."""

    level: Level
    check: str
    message: str


def redact(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)  # the user may be empty: redis://:PASSWORD@host


def check_secrets(config: Config) -> list[Finding]:
    try:
        refuse_dev_secrets_off_loopback(config)
    except ConfigError as exc:
        return [Finding("fail", "secrets", str(exc))]
    missing = [name for name in GENERATED_SECRETS if getattr(config.secrets, name) is None]
    if not missing:
        return [Finding("ok", "secrets", "set by the configuration")]
    path = secrets_path(config)
    if path is None:
        return [Finding("fail", "secrets", f"secrets.{missing[0]} is not set and there is no secrets file for it "
                        f"(PostgreSQL: every process must share it): set KEFU_SECRETS__{missing[0].upper()} or "
                        "auth.secrets_file")]
    where = "read from" if path.is_file() else "generated at first start into"
    return [Finding("ok", "secrets", f"{', '.join(missing)} {where} {path}")]


async def check_database(config: Config, head: str | None, known: Callable[[str], bool]) -> list[Finding]:
    """Reachability, then the schema's revision against this version's newest (``head``)."""
    url = database_url(config)
    shown = redact(url)
    file = sqlite_path(url)
    if file is not None and not Path(file).is_file():
        found = [Finding("ok", "database", f"{file} does not exist yet; it is created at first start")]
        return found + [_pending(config, None, head)]
    engine = create_async_engine(url, hide_parameters=True, pool_pre_ping=False)
    try:
        async with asyncio.timeout(TIMEOUT):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                revision = await conn.run_sync(_revision)
    except TimeoutError:
        return [Finding("fail", "database", f"cannot reach {shown}: no answer within {TIMEOUT:g} s"),
                Finding("skip", "migrations", "the database is unreachable")]
    except Exception as exc:  # any driver's error: the operator reads its message
        return [Finding("fail", "database", f"cannot connect to {shown}: {_first_line(exc)}"),
                Finding("skip", "migrations", "the database is unreachable")]
    finally:
        await engine.dispose()
    found = [Finding("ok", "database", f"{shown} answers")]
    if revision is not None and not known(revision):
        return found + [Finding("fail", "migrations", f"the database is at revision {revision}, which this version "
                                "does not know (a newer kefu-host migrated it): run that version")]
    return found + [_pending(config, revision, head)]


def _revision(conn: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _pending(config: Config, revision: str | None, head: str | None) -> Finding:
    if revision == head:
        return Finding("ok", "migrations", f"the schema is current ({head})")
    at = f"at {revision}" if revision else "empty"
    if config.database.migrate_on_start:
        return Finding("warn", "migrations", f"the database is {at}, this version at {head}: the host migrates "
                       "when it starts (database.migrate_on_start)")
    return Finding("fail", "migrations", f"the database is {at}, this version needs {head}, and "
                   "database.migrate_on_start is off: run kefu-host migrate")


async def check_redis(config: Config) -> list[Finding]:
    url = config.events.redis.url
    if not url:
        return [Finding("ok", "redis", "not configured (events.redis.url)")]
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        await client.ping()
    except Exception as exc:  # connection refused, auth, TLS: all read as one line
        return [Finding("fail", "redis", f"cannot reach {redact(url)}: {_first_line(exc)}")]
    finally:
        await client.aclose()
    return [Finding("ok", "redis", f"{redact(url)} answers")]


def check_plugins(records: Iterable[dict[str, Any]]) -> list[Finding]:
    found = []
    loaded = []
    for record in records:
        if record["status"] == "failed":
            found.append(Finding("fail", "plugins", f"{record['name']} ({record['location']}) failed to load: "
                                 f"{record['reason']}"))
        elif record["status"] == "loaded":
            loaded.append(record["name"])
    return found or [Finding("ok", "plugins", f"loaded: {', '.join(loaded) or 'none'}")]


def check_rules(config: Config, catalogue: Any) -> list[Finding]:
    from kefu_host.rules import RuleSetError, load_rules

    directory = resolve_path(config, config.rules.directory)
    if not directory.is_dir():
        return [Finding("fail", "rules", f"{directory} is not a directory (rules.directory)")]
    try:
        ruleset = load_rules(directory, catalogue, config.chat.teams, allow_empty=config.rules.allow_empty)
    except RuleSetError as exc:
        return [Finding("fail", "rules", error.render()) for error in exc.errors]
    return [Finding("ok", "rules", f"{directory}: {len(ruleset.rules)} rules, inline tests pass "
                    f"(revision {ruleset.revision[:12]})")]


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__


def known_revision(revision: str) -> bool:
    """Whether this version's migrations include ``revision``."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from kefu_host.store.migrate import alembic_config

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def render(findings: Iterable[Finding]) -> str:
    """The report: one line per finding (a rule error's source line and caret indented below it), then a verdict."""
    findings = list(findings)
    lines = []
    for f in findings:
        first, *rest = f.message.splitlines() or [""]
        lines.append(f"{f.level.upper():<5} {f.check:<11} {first}")
        lines += [f"{'':<17}{line}" for line in rest]
    problems = sum(f.level == "fail" for f in findings)
    lines.append(f"{problems} problem{'s' * (problems != 1)} found" if problems else "no problems found")
    return "\n".join(lines)
