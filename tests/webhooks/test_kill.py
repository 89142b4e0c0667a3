"""A real ``kefu-host`` killed right after a chat change loses none of its webhooks and sends each one once.

The receiver's port is bound but not listening while the host runs and dies, so no attempt can reach it (each is
refused). After the last restart it starts accepting, and must get every delivery exactly once by ``webhook-id``.
The host is killed in two ways: by the test with SIGKILL the moment the change is acknowledged, and by a plugin
that SIGKILLs the host inside the first hook call after the change committed: the instant a delivery written
after the change would have been lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kefu_host.store import open_store
from kefu_host.testing.clients import VisitorClient
from kefu_host.webhooks import repo
from tests.webhooks.conftest import SECRET, WAIT, Receiver, webhooks_toml

#: A plugin that kills its own host inside the hook named by KEFU_TEST_CRASH_IN, before any other plugin hears it.
CRASH_PLUGIN = """
import os
import signal

from kefu_host import hookimpl

CRASH_IN = os.environ.get("KEFU_TEST_CRASH_IN", "")


def crash(hook):
    if hook == CRASH_IN:
        os.kill(os.getpid(), signal.SIGKILL)


@hookimpl(tryfirst=True)
def kefu_message_received():
    crash("kefu_message_received")


@hookimpl(tryfirst=True)
def kefu_conversation_closed():
    crash("kefu_conversation_closed")
"""

EXPECTED = Counter({"conversation.created": 1, "message.created": 1, "conversation.closed": 1})
START_TIMEOUT = 60.0


class HostProcess:
    """``python -m kefu_host`` in a process of its own; its JSON log lines are read by a thread as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"event": line.rstrip()}
            self._loop.call_soon_threadsafe(self._add, record)
        self._loop.call_soon_threadsafe(self._changed.set)  # the pipe closed: the process is gone

    def _add(self, record: dict[str, Any]) -> None:
        self.lines.append(record)
        self._changed.set()

    async def wait_log(self, event: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """The first log line with this ``event``; fails if the process ends first."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                for record in self.lines:
                    if record.get("event") == event:
                        return record
                if not self._reader.is_alive() and self.proc.poll() is not None:
                    tail = [r.get("event") for r in self.lines[-10:]]
                    raise AssertionError(f"host exited ({self.proc.returncode}) before {event!r}; last: {tail}")
                await self._changed.wait()

    async def exited(self, timeout: float = WAIT) -> int:
        return await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert await self.exited() == -signal.SIGKILL


class HeldPort:
    """A loopback port that refuses connections until :meth:`accept` starts a receiver on it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connecting is refused
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.runner: web.AppRunner | None = None

    async def accept(self, receiver: Receiver) -> None:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()  # listens from now on
        receiver.url = self.url

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.sock.close()


@pytest.fixture
async def held_port() -> AsyncIterator[HeldPort]:
    port = HeldPort()
    yield port
    await port.close()


@pytest.fixture
async def host_processes(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    (tmp_path / "crash.py").write_text(textwrap.dedent(CRASH_PLUGIN), encoding="utf-8")
    started: list[HostProcess] = []

    async def start(config: Path, crash_in: str = "") -> HostProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "KEFU_TEST_CRASH_IN": crash_in}
        args = [sys.executable, "-m", "kefu_host", "--config", str(config), "--plugin", str(tmp_path / "crash.py")]
        host = HostProcess(args, env)
        started.append(host)
        host.port = int((await host.wait_log("listening"))["port"])
        return host

    yield start
    for host in started:
        if host.proc.poll() is None:
            host.proc.kill()
        await asyncio.to_thread(host.proc.wait)


async def visitor_socket(session: aiohttp.ClientSession, host: HostProcess, token: str) -> VisitorClient:
    ws = await session.ws_connect(f"http://127.0.0.1:{host.port}/ws/visitor?token={token}")
    client = VisitorClient(ws)
    await client.expect("welcome")
    return client


async def all_delivered(db_url: str, count: int) -> list[repo.Delivery]:
    """The delivery rows once there are ``count`` and every one is delivered (read from the host's database)."""
    async with open_store(db_url, migrate=False) as store:
        rows: list[repo.Delivery] = []
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    rows = await repo.list_deliveries(store, limit=100)
                    if len(rows) >= count and all(r.status == "delivered" for r in rows):
                        return rows
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"deliveries never all delivered: {[(r.event_type, r.status) for r in rows]}") from None


@pytest.fixture(params=["sqlite", "postgresql"])
def kill_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/kefu.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.mark.parametrize("killed_by", ["the test, at the ack", "a plugin, in the first hook after the commit"])
async def test_a_host_killed_right_after_each_change_sends_every_webhook_exactly_once_after_a_restart(
    killed_by: str,
    kill_db_url: str,
    held_port: HeldPort,
    write_config: Callable[..., Path],
    host_processes: Callable[..., Any],
) -> None:
    by_plugin = killed_by.startswith("a plugin")
    config = write_config(
        webhooks_toml({"crm": (held_port.url, SECRET, ["*"])}, max_attempts=10_000, timeout=1.0)
        # a send in flight at the kill is retried once its lease (timeout + margin) is over: keep that short
        + '\n[plugins."core.webhooks"]\npoll_interval = 0.2\nlease_margin = 1.0\n',
        db_url=kill_db_url,
    )

    async with aiohttp.ClientSession() as session:
        # 1. a visitor's first message: the conversation opens and the message is stored, then the host dies
        first = await host_processes(config, crash_in="kefu_message_received" if by_plugin else "")
        response = await session.post(f"http://127.0.0.1:{first.port}/api/visitor/sessions")
        assert response.status == 201, await response.text()
        token = (await response.json())["token"]
        visitor = await visitor_socket(session, first, token)
        await visitor.send({"type": "send", "client_msg_id": "c-1", "body": "hello"})
        if by_plugin:
            assert await first.exited() == -signal.SIGKILL
        else:
            await visitor.expect("ack", client_msg_id="c-1")
            await first.kill()

        # 2. on the same database the message is there (its resend is a duplicate); the visitor closes, the host dies
        second = await host_processes(config, crash_in="kefu_conversation_closed" if by_plugin else "")
        visitor = await visitor_socket(session, second, token)
        await visitor.send({"type": "send", "client_msg_id": "c-1", "body": "hello"})
        ack = await visitor.expect("ack", client_msg_id="c-1")
        assert (ack["seq"], ack["duplicate"]) == (1, True)
        await visitor.send({"type": "close"})
        if by_plugin:
            assert await second.exited() == -signal.SIGKILL
        else:
            await visitor.expect("closed", closed_by="visitor")
            await second.kill()

        # 3. the receiver accepts at last; a third host sends what the first two recorded
        receiver = Receiver(SECRET)
        await held_port.accept(receiver)
        await host_processes(config)
        try:
            await receiver.wait_for(sum(EXPECTED.values()))
        except TimeoutError:
            raise AssertionError(f"the receiver got only {receiver.types()}; expected {dict(EXPECTED)}") from None
        rows = await all_delivered(kill_db_url, sum(EXPECTED.values()))

    # every row is delivered, so nothing more will be sent: these counts are final
    assert Counter(r.event_type for r in rows) == EXPECTED
    got = Counter(r.delivery_id for r in receiver.requests)
    assert got == Counter({r.id: 1 for r in rows}), "each delivery exactly once"
    assert all(r.verified and r.answered == 200 for r in receiver.requests)
    by_type = {r.payload["type"]: r.payload["data"] for r in receiver.requests}
    assert by_type["message.created"]["message"]["body"] == "hello"
    assert by_type["message.created"]["conversation"]["last_seq"] == 1
    assert by_type["conversation.closed"]["closed_by"] == "visitor"
    assert by_type["conversation.closed"]["conversation"]["status"] == "closed"
