"""A real ``kefu-host`` process: it serves, and on SIGTERM it drains and exits within the timeout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

SLOW_PLUGIN = """
import asyncio
from aiohttp import web
from kefu_host import hookimpl
from kefu_host.keys import SOCKETS

async def slow(request):
    await asyncio.sleep(float(request.query.get("s", "1")))
    return web.json_response({"finished": True})

async def socket(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    request.config_dict[SOCKETS].add(ws)
    async for _ in ws:
        pass
    return ws

async def collector(request):
    import gc
    return web.json_response({"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count()})

@hookimpl
def kefu_routes():
    return [web.get("/slow", slow), web.get("/ws", socket), web.get("/gc", collector)]
"""


class Host:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
def host(write_config: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., Host]]:
    procs: list[subprocess.Popen[str]] = []

    def start(extra: str = "", env: dict[str, str] | None = None) -> Host:
        (tmp_path / "slow.py").write_text(textwrap.dedent(SLOW_PLUGIN))
        cfg = write_config(extra)
        proc = subprocess.Popen(
            [sys.executable, "-m", "kefu_host", "--config", str(cfg), "--plugin", str(tmp_path / "slow.py")],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        procs.append(proc)
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            record = json.loads(line)
            if record.get("event") == "listening":
                return Host(proc, record["port"])
        raise AssertionError(f"host did not start (exit code {proc.poll()})")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_once_listening_startup_objects_are_frozen_and_young_collections_are_rarer(
    host: Callable[..., Host],
) -> None:
    from kefu_host.cli.serve_cmd import GC_THRESHOLD

    h = host()
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 5
        while True:  # "listening" is logged just before the freeze
            state = await (await session.get(f"{h.url}/plugins/slow/gc")).json()
            if state["frozen"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    assert state["frozen"] > 10_000
    assert state["threshold"] == GC_THRESHOLD > 700


async def test_sigterm_drains_then_exits_within_the_timeout(host: Callable[..., Host]) -> None:
    h = host()
    async with aiohttp.ClientSession() as session:
        assert (await session.get(f"{h.url}/readyz")).status == 200
        ws = await session.ws_connect(f"{h.url}/plugins/slow/ws")
        in_flight = asyncio.create_task(session.get(f"{h.url}/plugins/slow/slow?s=1.0"))
        await asyncio.sleep(0.2)  # the request is being handled
        started = time.monotonic()
        h.proc.send_signal(signal.SIGTERM)

        closing = await asyncio.wait_for(ws.receive(), 5)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY

        response = await asyncio.wait_for(in_flight, 5)  # finished, not cut off
        assert response.status == 200
        assert await response.json() == {"finished": True}

    code = await asyncio.to_thread(h.proc.wait, 10)
    assert code == 0
    assert time.monotonic() - started < 5.0  # server.shutdown_timeout in the test config


async def test_readiness_turns_503_at_once_and_the_listener_closes_after_the_drain_delay(
    host: Callable[..., Host],
) -> None:
    h = host(env={"KEFU_SERVER__DRAIN_DELAY": "1.0"})
    async with aiohttp.ClientSession() as session:
        in_flight = asyncio.create_task(session.get(f"{h.url}/plugins/slow/slow?s=2"))
        await asyncio.sleep(0.2)
        h.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        draining = await session.get(f"{h.url}/readyz")  # still listening during the drain delay
        assert draining.status == 503
        assert (await draining.json())["status"] == "draining"
        assert (await session.get(f"{h.url}/livez")).status == 200
        await asyncio.sleep(1.0)
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{h.url}/readyz", headers={"Connection": "close"})
        assert (await asyncio.wait_for(in_flight, 5)).status == 200
    assert await asyncio.to_thread(h.proc.wait, 10) == 0


async def test_a_handler_that_never_finishes_cannot_hold_shutdown_past_the_timeout(
    host: Callable[..., Host],
) -> None:
    h = host()
    async with aiohttp.ClientSession() as session:
        stuck = asyncio.create_task(session.get(f"{h.url}/plugins/slow/slow?s=3600"))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        h.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(h.proc.wait, 15)
        elapsed = time.monotonic() - started
        stuck.cancel()
    assert code == 0
    assert elapsed < 5.0 + 1.0  # shutdown_timeout plus process exit
