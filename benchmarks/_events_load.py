"""Load generator for bench_events.py, in its own process: ``_events_load.py JOB_JSON`` prints one JSON result.

With ``setup`` (the host), it first connects the agents and opens one identified conversation per customer, so
every ``user.profile_updated`` event has an agent screen to refresh; it then counts the ``profile_update`` frames.
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
from _chat_load import CpuWindow, percentiles, raise_nofile

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


async def throughput(session: aiohttp.ClientSession, job: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    url, deadline = f"{job['url']}/api/events", time.monotonic() + job["duration"]
    statuses: dict[int, int] = {}
    cursor = 0

    async def worker() -> None:
        nonlocal cursor
        while time.monotonic() < deadline and cursor < len(events):
            body, headers = events[cursor]
            cursor += 1
            status = await post(session, url, body, headers)
            statuses[status] = statuses.get(status, 0) + 1

    cpu = CpuWindow(job["server_pid"])
    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
    elapsed = time.monotonic() - t0
    ok = statuses.get(200, 0)
    return {"events_per_s": round(ok / elapsed, 1), "ok": ok, "statuses": statuses, "seconds": round(elapsed, 2),
            **cpu.result()}


async def latency(session: aiohttp.ClientSession, job: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    url, rate = f"{job['url']}/api/events", job["rate"]
    count = int(rate * job["duration"])
    times: list[float] = []
    statuses: dict[int, int] = {}

    async def one(n: int, due: float) -> None:
        body, headers = events[n]
        status = await post(session, url, body, headers)
        times.append(time.monotonic() - due)
        statuses[status] = statuses.get(status, 0) + 1

    cpu = CpuWindow(job["server_pid"])
    t0 = time.monotonic()
    running = []
    for n in range(count):
        due = t0 + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        running.append(asyncio.create_task(one(n, due)))
    await asyncio.gather(*running)
    return {"rate": rate, "sent": count, "statuses": statuses, "latency": percentiles(times), **cpu.result()}


async def run(job: dict[str, Any]) -> dict[str, Any]:
    raise_nofile()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        pushes = Pushes()
        held = await setup_host(session, job, pushes) if job.get("setup") else []
        out: dict[str, Any] = {}
        if job.get("throughput"):
            events = signed_events(job["secret"], job["uids"], job["max_events"], "t", datetime(2026, 1, 1, tzinfo=UTC))
            before = pushes.count
            out["throughput"] = await throughput(session, job, events)
            await asyncio.sleep(0.5)
            out["throughput"]["pushes"] = pushes.count - before
        if job.get("rate"):
            count = int(job["rate"] * job["duration"])
            events = signed_events(job["secret"], job["uids"], count, "l", datetime(2026, 6, 1, tzinfo=UTC))
            before = pushes.count
            out["latency"] = await latency(session, job, events)
            await asyncio.sleep(0.5)
            out["latency"]["pushes"] = pushes.count - before
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
