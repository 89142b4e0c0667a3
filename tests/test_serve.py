"""A real ``kefu-host`` process: it serves, and a stop signal at any moment after startup began ends in a graceful
shutdown (drain, exit 0, "stopped"), within the timeout.

Every wait here is on something the host does (a log line, a socket state), never on a guess of how long it takes:
CI runs this with a core kept busy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from kefu_host.testing.process import HostProcess

TEST_PLUGIN = """
import asyncio
import gc
import os

import structlog
from aiohttp import web

from kefu_host import hookimpl
from kefu_host.keys import SOCKETS

log = structlog.get_logger("slow")


async def slow(request):
    log.info("slow request started", s=request.query["s"])
    await asyncio.sleep(float(request.query["s"]))
    return web.json_response({"finished": True})


async def socket(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    request.config_dict[SOCKETS].add(ws)
    async for _ in ws:
        pass
    return ws


async def collector(request):
    return web.json_response({"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()})


@hookimpl
def kefu_routes():
    return [web.get("/slow", slow), web.get("/ws", socket), web.get("/gc", collector)]


@hookimpl
async def kefu_startup(app):
    if os.environ.get("SLOW_PLUGIN_STALL_STARTUP"):
        log.info("startup stalled")
        try:
            await asyncio.Event().wait()
        finally:
            log.info("stalled startup ended")
"""


@pytest.fixture
def host(write_config: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., HostProcess]]:
    """Start ``kefu-host`` with the test plugin above (``/plugins/slow/...``); with ``listening=False``, at once."""
    procs: list[HostProcess] = []

    def start(extra: str = "", env: dict[str, str] | None = None, listening: bool = True) -> HostProcess:
        (tmp_path / "slow.py").write_text(textwrap.dedent(TEST_PLUGIN))
        cfg = write_config(extra)
        proc = HostProcess(cfg, ["--plugin", str(tmp_path / "slow.py")], env=env)
        procs.append(proc)
        if listening:
            proc.wait_listening()
        return proc

    yield start
    for proc in procs:
        proc.kill()


async def closed_listener(port: int, within: float = 10.0) -> None:
    """Return once a connection to ``port`` is refused; fail if it still accepts after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            return
        writer.close()
        await writer.wait_closed()
        assert loop.time() < deadline, "the listener is still open"
        await asyncio.sleep(0.02)  # the pace of polling a state, not a wait for it


async def test_before_listening_startup_objects_are_frozen_and_young_collections_are_rarer(
    host: Callable[..., HostProcess],
) -> None:
    from kefu_host.cli.serve_cmd import GC_THRESHOLD

    h = host()
    async with aiohttp.ClientSession() as session:
        state = await (await session.get(f"{h.url}/plugins/slow/gc")).json()
    assert state["frozen"] > 10_000
    assert state["threshold"] == GC_THRESHOLD > 700


async def test_sigterm_drains_then_exits_within_the_timeout(host: Callable[..., HostProcess]) -> None:
    h = host()
    async with aiohttp.ClientSession() as session:
        assert (await session.get(f"{h.url}/readyz")).status == 200
        ws = await session.ws_connect(f"{h.url}/plugins/slow/ws")
        in_flight = asyncio.create_task(session.get(f"{h.url}/plugins/slow/slow?s=1.0"))
        await h.log.until("slow request started")
        h.proc.send_signal(signal.SIGTERM)

        closing = await asyncio.wait_for(ws.receive(), 10)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY

        response = await asyncio.wait_for(in_flight, 10)  # finished, not cut off
        assert response.status == 200
        assert await response.json() == {"finished": True}

    assert await h.exited() == 0
    assert h.log.find(lambda r: r.get("event") == "stopped") is not None
    assert h.log.find(lambda r: r.get("level") == "error") is None  # the timeout was not reached


async def test_readiness_turns_503_at_once_and_the_listener_closes_after_the_drain_delay(
    host: Callable[..., HostProcess],
) -> None:
    # the request outlasts the drain delay, and the 60 % of the timeout after it is ample to finish it
    h = host(env={"KEFU_SERVER__DRAIN_DELAY": "2.0", "KEFU_SERVER__SHUTDOWN_TIMEOUT": "10.0"})
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(session.get(f"{h.url}/plugins/slow/slow?s=4"))
        await h.log.until("slow request started")
        h.proc.send_signal(signal.SIGTERM)
        await h.log.until("shutting down")

        draining = await session.get(f"{h.url}/readyz", headers={"Connection": "close"})  # a new connection
        assert draining.status == 503
        assert (await draining.json())["status"] == "draining"
        assert (await session.get(f"{h.url}/livez", headers={"Connection": "close"})).status == 200

        assert h.port is not None
        await closed_listener(h.port)
        assert (await asyncio.wait_for(in_flight, 15)).status == 200  # the closed listener did not cut it off
    assert await h.exited() == 0


async def test_a_handler_that_never_finishes_cannot_hold_shutdown_past_the_timeout(
    host: Callable[..., HostProcess], tmp_path: Path
) -> None:
    h = host()
    async with aiohttp.ClientSession() as session:
        stuck = asyncio.create_task(session.get(f"{h.url}/plugins/slow/slow?s=3600"))
        await h.log.until("slow request started")
        h.proc.send_signal(signal.SIGTERM)
        # cut off at 60 % of shutdown_timeout (the client may retry the GET once and find the port closed)
        with pytest.raises(aiohttp.ClientConnectionError):
            await asyncio.wait_for(stuck, 15)
    assert await h.exited() == 0
    assert h.log.find(lambda r: r.get("event") == "stopped") is not None
    # the rest of the budget sufficed to close the store: the last resort of exiting unfinished was not needed
    assert h.log.find(lambda r: r.get("level") == "error") is None
    assert not (tmp_path / "kefu.db-wal").exists()  # SQLite removes it when the last connection closes cleanly


@pytest.mark.parametrize("moment", ["ready", "listening"])
async def test_sigterm_the_moment_startup_ends_is_a_graceful_shutdown(
    host: Callable[..., HostProcess], moment: str
) -> None:
    h = host(listening=False)
    await h.log.until(moment)  # "ready" is logged as startup finishes, "listening" once the port is open
    h.proc.send_signal(signal.SIGTERM)
    assert await h.exited() == 0
    assert h.log.find(lambda r: r.get("event") == "stopped") is not None


async def test_sigterm_during_startup_abandons_it_closes_what_it_opened_and_never_listens(
    host: Callable[..., HostProcess], tmp_path: Path
) -> None:
    h = host(env={"SLOW_PLUGIN_STALL_STARTUP": "1"}, listening=False)
    await h.log.until("startup stalled")  # the store and the rules are open; the plugins' kefu_startup runs
    h.proc.send_signal(signal.SIGTERM)
    assert await h.exited() == 0
    assert h.log.find(lambda r: r.get("event") == "stalled startup ended") is not None  # cancelled where it was
    assert h.log.find(lambda r: r.get("event") == "stopped") is not None
    assert h.log.find(lambda r: r.get("event") in ("listening", "ready")) is None
    # SQLite removes the write-ahead log when the last connection closes cleanly: the store was closed
    assert (tmp_path / "kefu.db").exists() and not (tmp_path / "kefu.db-wal").exists()


def test_a_stop_signal_before_the_event_loop_runs_is_kept_for_it(
    host: Callable[..., HostProcess], tmp_path: Path
) -> None:
    # SIGTERM while plugins are imported (before asyncio starts): the host must not die of it, nor start serving
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    (tmp_path / "blocker.py").write_text(textwrap.dedent(f"""
        import os
        import structlog
        gate = os.open({str(gate)!r}, os.O_RDWR)  # held open from here on, so the test can always write to it
        structlog.get_logger("blocker").info("importing")
        os.read(gate, 1)  # blocks until the test writes
    """))
    h = host(f'[plugins]\nload = ["{tmp_path / "blocker.py"}"]\n', listening=False)
    h.log.wait("importing")
    h.proc.send_signal(signal.SIGTERM)
    try:  # non-blocking: if the signal killed the process, nobody has the fifo open any more
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        pass
    else:
        os.write(fd, b"go")
        os.close(fd)
    assert h.wait() == 0
    assert h.log.find(lambda r: r.get("event") == "stopped") is not None
    assert h.log.find(lambda r: r.get("event") in ("listening", "ready")) is None
