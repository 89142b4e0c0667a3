"""Load generator for bench_events.py, in its own process: ``_events_load.py JOB_JSON`` prints one JSON result.

It first connects the agents to the host and opens one identified conversation per customer, so every
``user.profile_updated`` event has an agent screen to refresh, and counts the ``profile_update`` frames they get.
Events are signed before the clock starts (the signature is the sender's cost, not the host's).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from _chat_load import CpuWindow, percentiles, quiet_gc, raise_nofile

from kefu_host.events.signing import sign


def signed_events(
    secret: str, uids: list[str], count: int, tag: str, start: datetime
) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` profile changes, each newer than the one before, so every one changes the customer."""
    out = []
    for n in range(count):
        event = {
            "id": f"evt_{tag}_{n}_{uuid.uuid4().hex[:6]}",
            "type": "user.profile_updated",
            "occurred_at": (start + timedelta(microseconds=10 * n)).isoformat(),
            "data": {"uid": uids[n % len(uids)], "name": f"customer {tag} {n}"},
        }
        body = orjson.dumps(event)
        out.append((body, {**sign(secret, event["id"], body), "Content-Type": "application/json"}))
    return out


class Pushes:
    def __init__(self) -> None:
        self.count = 0

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT and '"profile_update"' in msg.data:
                self.count += 1


async def setup_host(session: aiohttp.ClientSession, job: dict[str, Any], pushes: Pushes) -> list[Any]:
    url = job["url"]
    agents = [await session.ws_connect(f"{url}/ws/agent", headers={"Authorization": f"Bearer {t}"})
              for t in job["agent_tokens"]]
    tasks = [asyncio.create_task(pushes.read(ws)) for ws in agents]
    visitors = []
    for uid in job["uids"]:
        user_hash = hmac.new(job["identity"].encode(), uid.encode(), hashlib.sha256).hexdigest()
        async with session.post(f"{url}/api/visitor/sessions", json={"user_id": uid, "user_hash": user_hash}) as r:
            token = (await r.json())["token"]
        ws = await session.ws_connect(f"{url}/ws/visitor?token={token}")
        await ws.send_str(orjson.dumps({"type": "send", "client_msg_id": "hello", "body": "hello"}).decode())
        visitors.append(ws)
    await asyncio.sleep(1.0)  # assignments settle
    return [*agents, *visitors, *tasks]


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> int:
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def throughput(
    session: aiohttp.ClientSession, url: str, pid: int, events: list[Any], seconds: float, concurrency: int,
    *, cyclic: bool,
) -> dict[str, Any]:
    """``concurrency`` clients post ``events`` in a closed loop for ``seconds``; ``cyclic`` reuses them (the bare
    endpoint only parses), otherwise each is sent once and the window also ends when they run out."""
    url, deadline = f"{url}/api/events", time.monotonic() + seconds
    statuses: dict[int, int] = {}
    cursor = 0

    async def worker() -> None:
        nonlocal cursor
        while time.monotonic() < deadline and (cyclic or cursor < len(events)):
            body, headers = events[cursor % len(events)]
            cursor += 1
            status = await post(session, url, body, headers)
            statuses[status] = statuses.get(status, 0) + 1

    with quiet_gc():
        cpu = CpuWindow(pid)
        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - t0
    ok = statuses.get(200, 0)
    return {"events_per_s": round(ok / elapsed, 1), "ok": ok, "sent": cursor, "statuses": statuses,
            "seconds": round(elapsed, 2), **cpu.result()}


async def latency(
    session: aiohttp.ClientSession, url: str, pid: int, events: list[Any], rate: float
) -> dict[str, Any]:
    """Open loop: event k is due at t0 + k / rate whatever happened to the earlier ones; request -> answer."""
    url = f"{url}/api/events"
    times: list[float] = []
    statuses: dict[int, int] = {}

    async def one(n: int, due: float) -> None:
        body, headers = events[n]
        status = await post(session, url, body, headers)
        times.append(time.monotonic() - due)
        statuses[status] = statuses.get(status, 0) + 1

    with quiet_gc():
        cpu = CpuWindow(pid)
        t0 = time.monotonic()
        running = []
        for n in range(len(events)):
            due = t0 + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            running.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*running)
    return {"rate": rate, "sent": len(events), "statuses": statuses, "latency": percentiles(times), **cpu.result()}


async def settle(pushes: Pushes, expected: int, limit: float = 3.0) -> None:
    """Wait for the pushes still on their way (a push follows its answer), at most ``limit`` seconds."""
    end = time.monotonic() + limit
    while pushes.count < expected and time.monotonic() < end:
        await asyncio.sleep(0.05)


async def run(job: dict[str, Any]) -> dict[str, Any]:
    """Set the host up, then the throughput windows in the order given (bare and host alternating, so a drift in
    the machine's speed touches both alike), then the latency phase on each server."""
    raise_nofile()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        pushes = Pushes()
        held = await setup_host(session, {**job, "url": job["urls"]["host"]}, pushes)
        events = signed_events(job["secret"], job["uids"], job["max_events"], "t", datetime(2026, 1, 1, tzinfo=UTC))
        bare_pool = events[: job["bare_pool"]]
        cursor = 0
        windows = []
        if job.get("emit_events"):  # the set-up is done: what the orchestrator measures from here is the windows
            sys.stdout.write('{"event": "measure_start"}\n')
            sys.stdout.flush()
        for kind, seconds in job["windows"]:
            url, pid = job["urls"][kind], job["pids"][kind]
            if kind == "host":
                before = pushes.count
                result = await throughput(session, url, pid, events[cursor:], seconds, job["concurrency"],
                                          cyclic=False)
                cursor += result["sent"]
                await settle(pushes, before + result["ok"])
                result["pushes"] = pushes.count - before
            else:
                result = await throughput(session, url, pid, bare_pool, seconds, job["concurrency"], cyclic=True)
            windows.append({"kind": kind, **result})
        out: dict[str, Any] = {"windows": windows, "latency": {}}
        count = int(job["rate"] * job["latency_seconds"])
        for n, kind in enumerate(job.get("latency_kinds", ("bare", "host"))):
            late = signed_events(job["secret"], job["uids"], count, f"l{n}", datetime(2026, 6, 1, tzinfo=UTC))
            before = pushes.count
            out["latency"][kind] = await latency(session, job["urls"][kind], job["pids"][kind], late, job["rate"])
            if kind == "host":
                await settle(pushes, count + before)
                out["latency"][kind]["pushes"] = pushes.count - before
        for item in held:
            if isinstance(item, asyncio.Task):
                item.cancel()
            else:
                await item.close()
        return out


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(orjson.dumps(asyncio.run(run(orjson.loads(sys.argv[1]))), option=orjson.OPT_NON_STR_KEYS).decode(), flush=True)
