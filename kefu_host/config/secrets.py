"""Secrets at startup: the ones nobody configured are made up once and kept; development ones stay on loopback.

A signing secret is never empty. When ``secrets.visitor_token``, ``secrets.identity`` or ``secrets.admin_token`` is
not set, :func:`secure_config` takes it from the secrets file, generating it there first (32 random bytes) if the
file does not have it. The file is TOML, mode 0600, beside the SQLite database (``data/kefu.db`` ->
``data/kefu.secrets.toml``) or at ``auth.secrets_file``. Several processes on one PostgreSQL database must share
their secrets, and a file on one machine cannot give them that: there the secrets are set from the environment
(or ``auth.secrets_file`` names a file all of them read), and a missing one is a config error.

Values set in the configuration always win over the file; the file only ever fills gaps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import json
import os
import secrets
import stat
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kefu_host.config.schema import (
    DEV_SECRET_PREFIX,
    GENERATED_SECRETS,
    Config,
    ConfigError,
    database_url,
    resolve_path,
)

_SQLITE = "sqlite+aiosqlite:///"
_HEADER = (
    "# Secrets kefu-host generated because the configuration did not set them. Keep this file private (mode 0600)\n"
    "# and with the database: visitor tokens signed with these name customers of that database.\n"
)


@dataclass(frozen=True)
class SecretsReport:
    """What :func:`secure_config` took from the secrets file (for the startup log; never the values)."""

    path: Path | None
    generated: tuple[str, ...]
    loaded: tuple[str, ...]


def secure_config(config: Config) -> tuple[Config, SecretsReport | None]:
    """``config`` with every generated secret set (from the secrets file), after refusing unsafe setups.

    Raises :class:`ConfigError` for development secrets on a non-loopback host, for a missing secret with no place
    to keep a generated one, and for a secrets file others can read or that is not valid.
    """
    refuse_dev_secrets_off_loopback(config)
    missing = [name for name in GENERATED_SECRETS if getattr(config.secrets, name) is None]
    if not missing:
        return config, None
    if _in_memory(config):  # the data dies with the process, and so may its secrets
        values = {name: _new_secret() for name in missing}
        report = SecretsReport(None, tuple(missing), ())
    else:
        path = secrets_path(config)
        if path is None:
            key = f"secrets.{missing[0]}"
            raise ConfigError(
                config.origin_of(key), key,
                "not set; with PostgreSQL every process must share it: set it from the environment "
                f"(KEFU_SECRETS__{missing[0].upper()}) or name a shared auth.secrets_file",
            )
        stored, generated = _load_or_generate(path, missing)
        values = {name: stored[name] for name in missing}
        report = SecretsReport(path, generated, tuple(n for n in missing if n not in generated))
    return dataclasses.replace(config, secrets=dataclasses.replace(config.secrets, **values)), report


def secrets_path(config: Config) -> Path | None:
    """Where generated secrets are kept: ``auth.secrets_file``, else beside a SQLite database file, else None."""
    if config.auth.secrets_file is not None:
        return resolve_path(config, config.auth.secrets_file)
    url = database_url(config)
    if not url.startswith(_SQLITE) or _in_memory(config):
        return None
    database = Path(url[len(_SQLITE):].partition("?")[0])
    return database.with_name(f"{database.stem}.secrets.toml")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost, or "" (every interface)
        return False


def refuse_dev_secrets_off_loopback(config: Config) -> None:
    if config.auth.insecure_dev or is_loopback(config.server.host):
        return
    s = config.secrets
    for key, value, env in development_secrets(config):
        raise ConfigError(
            config.origin_of(key), key,
            f"a development secret ({DEV_SECRET_PREFIX}...) while server.host is {config.server.host!r}; "
            f"set a real one ({env}) or start with --insecure-dev",
        )


def development_secrets(config: Config) -> list[tuple[str, str, str]]:
    """(key, value, environment variable) of every secret that is a shipped development one (``dev-...``)."""
    s = config.secrets
    named = [("visitor_token", s.visitor_token), ("identity", s.identity), ("admin_token", s.admin_token),
             *((f"visitor_token_previous[{n}]", v) for n, v in enumerate(s.visitor_token_previous))]
    found = [(f"secrets.{name}", value, f"KEFU_SECRETS__{name.split('[')[0].upper()}") for name, value in named
             if value is not None and value.startswith(DEV_SECRET_PREFIX)]
    for source, spec in config.events.sources.items():
        found += [(f"events.sources.{source}.secrets[{n}]", value, f"KEFU_EVENTS__SOURCES__{source.upper()}__SECRETS")
                  for n, value in enumerate(spec.secrets) if value.startswith(DEV_SECRET_PREFIX)]
    return found


def _in_memory(config: Config) -> bool:
    url = database_url(config)
    return config.auth.secrets_file is None and url.startswith(_SQLITE) and ":memory:" in url


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _load_or_generate(path: Path, wanted: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The file's secrets, with those of ``wanted`` it lacked generated and written (under a lock: two processes
    starting at once end up with the same values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path) as fd:
        stored = _parse(path, os.read(fd, 1 << 16))
        generated = tuple(name for name in wanted if name not in stored)
        if generated:
            stored.update({name: _new_secret() for name in generated})
            _write(path, stored)
    return stored, generated


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The file opened (created 0600 if missing) and locked; the lock is retaken if the file was replaced meanwhile."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                _check_mode(path, fd)
                yield fd
                return
        finally:
            os.close(fd)  # closing releases the lock


def _check_mode(path: Path, fd: int) -> None:
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & 0o077:
        raise ConfigError(str(path), "", f"readable by other users (mode {mode:04o}); chmod 600 it")


def _parse(path: Path, raw: bytes) -> dict[str, str]:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "", f"invalid TOML: {exc}") from None
    for key, value in data.items():
        if key not in GENERATED_SECRETS:
            raise ConfigError(str(path), key, f"unknown key (expected {', '.join(GENERATED_SECRETS)})")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(str(path), key, "expected a non-empty string")
    return dict(data)


def _write(path: Path, values: Mapping[str, str]) -> None:
    """Replace the file in one rename, so a crash leaves the old file or the new one, never half of one."""
    # a JSON string is a TOML basic string
    lines = (f"{name} = {json.dumps(values[name], ensure_ascii=False)}\n" for name in GENERATED_SECRETS
             if name in values)
    body = _HEADER + "".join(lines)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
