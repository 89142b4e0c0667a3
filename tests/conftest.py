"""Shared fixtures: a real config on disk, a real app on a real socket, real databases."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from kefu_host.config import Config, load_config
from kefu_host.logs import configure_logging
from kefu_host.testing import host as testing_host

ADMIN_TOKEN = testing_host.ADMIN_TOKEN
base_toml = testing_host.base_toml
POSTGRES_URL = os.environ.get("KEFU_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL")
#: In CI the services are up, so a test that needs one must run, never skip.
IN_CI = bool(os.environ.get("CI"))


def free_port() -> int:
    """A port nothing listens on now, chosen by the OS: tests that run at the same time never pick the same one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True, scope="session")
def _structured_logs() -> None:
    """Log through the host's own pipeline, so tests can read what an operator would see."""
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN, "test-visitor-secret", "test-identity-secret"])


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a kefu.toml (the base plus ``extra`` TOML) into a fresh directory with a rules/ folder."""

    def write(extra: str = "", *, db_url: str | None = None, name: str = "kefu.toml") -> Path:
        return testing_host.write_config(tmp_path, extra, db_url=db_url, name=name)

    return write


@pytest.fixture
def make_config(write_config: Callable[..., Path]) -> Callable[..., Config]:
    def make(extra: str = "", *, db_url: str | None = None, environ: dict[str, str] | None = None) -> Config:
        return load_config(write_config(extra, db_url=db_url), environ=environ or {})

    return make


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL database emptied for this test (its ``public`` schema is dropped and recreated)."""
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("KEFU_TEST_POSTGRES_URL must be set in CI")
        pytest.skip("KEFU_TEST_POSTGRES_URL not set")
    import asyncio

    import asyncpg

    async def reset() -> None:
        conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
        try:
            # A test's event loop can end while a host it started is still inside a read (a socket handler's last
            # presence update, say): that connection stays in its transaction, holding its locks, until the
            # collector finds it. Its test is over; end it, so the drop below does not wait for it.
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            await conn.execute("SET lock_timeout = '30s'")
            try:
                await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            except asyncpg.LockNotAvailableError:
                held = await conn.fetch("SELECT pid, state, query FROM pg_stat_activity "
                                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                pytest.fail(f"the test database is in use by other connections: {held}")
        finally:
            await conn.close()

    asyncio.run(reset())
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """A Redis database emptied for this test (FLUSHDB on the database in KEFU_TEST_REDIS_URL)."""
    if not REDIS_URL:
        if IN_CI:
            pytest.fail("KEFU_TEST_REDIS_URL must be set in CI")
        pytest.skip("KEFU_TEST_REDIS_URL not set")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a SQLite file, and on PostgreSQL when KEFU_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")




@pytest.fixture
def start_app(aiohttp_client: Any, make_config: Callable[..., Config]) -> Callable[..., Any]:
    """Start the real app on a loopback socket: ``client = await start_app(extra_toml, plugins=[...])``.

    ``port`` pins the port (a restart test starts a second app where the first one listened)."""

    async def start(
        extra: str = "",
        *,
        plugins: list[tuple[str, dict[str, Any]]] | None = None,
        blocked: list[str] | None = None,
        db_url: str | None = None,
        config: Config | None = None,
        environ: dict[str, str] | None = None,
        port: int | None = None,
    ) -> TestClient[web.Request, web.Application]:
        config = config or make_config(extra, db_url=db_url, environ=environ)
        server = await testing_host.start_server(config, plugins=plugins or [], blocked=blocked or [], port=port)
        return await aiohttp_client(server)

    return start


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def raw_request(address: tuple[str, int], method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                      body: bytes = b"", *, timeout: float = 10.0) -> RawAnswer:
    """One HTTP/1.1 request written byte for byte (so headers can hold bytes no client library would send)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
        lines += [name + b": " + value for name, value in headers]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: " + str(len(body)).encode())
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        status = int(status_line.split(" ")[1])
        parsed = {k.lower(): v for k, v in (line.split(": ", 1) for line in header_lines if ": " in line)}
        rest = b"" if status == 101 else await asyncio.wait_for(reader.read(), timeout)  # 101: the socket stays open
    finally:
        writer.close()
    if parsed.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return RawAnswer(status, parsed, rest)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out

