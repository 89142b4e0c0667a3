"""Load generator processes of the chat benchmark (see bench_chat.py); not meant to be run by hand.

    python benchmarks/_chat_load.py chat JOB_JSON    # throughput then latency, prints one JSON line of results
    python benchmarks/_chat_load.py idle JOB_JSON    # idle visitor sockets, driven by stdin commands

Both speak to either the real host (``mode: host``: ``/api/visitor/sessions``, ``/ws/visitor``, ``/ws/agent``) or
the bare relay of _chat_relay.py (``mode: relay``: ``/visitor?i=N``, ``/agent?i=K``). Every wait has a timeout and
the whole job is cancelled at ``deadline`` (a ``time.time()`` value), whatever it is doing.

Timing uses ``time.monotonic()`` (CLOCK_MONOTONIC, shared by all processes of the machine), never the event loop's
clock: uvloop's ``loop.time()`` has millisecond resolution and is cached per loop iteration.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

TEXT = aiohttp.WSMsgType.TEXT
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A message body of ordinary length (~90 characters with the timestamps appended).
FILLER = "你好, my order #20261126 has not shipped yet, could you check it please"


@contextlib.contextmanager
def quiet_gc() -> Any:
    """No collector pauses in this process while a window is measured.

    The generator holds every pre-signed request and every in-flight task: a full collection of that heap took
    50-500 ms here, which the clock charged to the server as latency. Objects alive at the start are frozen (never
    scanned again) and the collector is off until the window ends.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime of every thread of a process, by thread id (the main thread's id is the pid)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            out[int(tid)] = proc_cpu_seconds_path(f"/proc/{pid}/task/{tid}/stat")
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def proc_cpu_seconds_path(path: str) -> float:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle/iowait since boot (first line of /proc/stat)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class CpuWindow:
    """CPU used by the server (or servers: the nodes of a cluster, summed), by this load generator and by the
    whole machine over a window of wall time."""

    def __init__(self, server_pid: int | list[int]) -> None:
        self.pids = server_pid if isinstance(server_pid, list) else [server_pid]
        self.t0 = time.monotonic()
        self.server0 = sum(proc_cpu_seconds(pid) for pid in self.pids)
        self.load0 = time.process_time()
        self.machine0 = machine_busy_seconds()
        self.threads0 = {pid: thread_cpu_seconds(pid) for pid in self.pids}

    def result(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self.t0, 1e-9)
        server = sum(proc_cpu_seconds(pid) for pid in self.pids) - self.server0
        load = time.process_time() - self.load0
        machine = machine_busy_seconds() - self.machine0
        per_thread = {}
        for pid in self.pids:
            before = self.threads0[pid]
            for tid, cpu in thread_cpu_seconds(pid).items():
                name = str(tid) if len(self.pids) == 1 else f"{pid}/{tid}"
                per_thread[name] = round(100 * (cpu - before.get(tid, 0.0)) / wall, 1)
        busy_threads = {tid: pct for tid, pct in sorted(per_thread.items(), key=lambda kv: -kv[1]) if pct >= 0.5}
        return {
            "server_threads_cpu_pct": busy_threads,
            "server_cpu_pct": round(100 * server / wall, 1),
            "load_cpu_pct": round(100 * load / wall, 1),
            "machine_busy_pct": round(100 * machine / wall, 1),
            # everything else: other processes, and kernel work (loopback softirq) charged to no process
            "other_cpu_pct": round(100 * (machine - server - load) / wall, 1),
        }


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    s = sorted(values)

    def p(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)

    return {
        "n": len(s),
        "p50_ms": p(0.50),
        "p90_ms": p(0.90),
        "p99_ms": p(0.99),
        "p999_ms": p(0.999),
        "max_ms": round(s[-1] * 1000, 3),
        "mean_ms": round(sum(s) / len(s) * 1000, 3),
    }


@dataclass
class Counters:
    """Per phase letter (first character of client_msg_id): sends, acks at visitors, messages at agents."""

    sent: dict[str, int] = field(default_factory=dict)
    acks: dict[str, int] = field(default_factory=dict)
    at_agents: dict[str, int] = field(default_factory=dict)
    agent_ids: dict[str, set[str]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    assigned: int = 0
    last_ack: float = 0.0
    last_agent: float = 0.0
    # latency phase: (visitor send -> agent receive) and (send -> ack), from the scheduled and the actual send time
    lat_agent_sched: list[float] = field(default_factory=list)
    lat_agent_sent: list[float] = field(default_factory=list)
    lat_ack_sched: list[float] = field(default_factory=list)
    lat_send_lag: list[float] = field(default_factory=list)

    def bump(self, table: dict[str, int], phase: str) -> None:
        table[phase] = table.get(phase, 0) + 1


class Visitor:
    __slots__ = ("index", "outstanding", "reader", "room", "ws")

    def __init__(self, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.index = index
        self.ws = ws
        self.outstanding = 0
        self.room = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None


async def expect_welcome(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> None:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    if msg.type != TEXT or orjson.loads(msg.data).get("type") != "welcome":
        raise RuntimeError(f"expected a welcome frame, got {msg.type.name} {str(msg.data)[:200]}")


async def gather_limited(coros: list[Any], limit: int) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def visitor_token(session: aiohttp.ClientSession, url: str) -> str:
    for attempt in range(5):
        async with session.post(f"{url}/api/visitor/sessions", json={}) as r:
            if r.status == 201:
                return str((await r.json())["token"])
            text = await r.text()
        await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"POST /api/visitor/sessions failed: {r.status} {text[:200]}")


# --- chat job: throughput then latency ----------------------------------------------------------------------------


class ChatLoad:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.mode = job["mode"]
        self.url = job["url"]
        # the nodes of a cluster: agent k connects to agent_urls[k % n], visitor k to visitor_urls[k % n]
        self.agent_urls: list[str] = job.get("agent_urls") or [self.url]
        self.visitor_urls: list[str] = job.get("visitor_urls") or [self.url]
        self.c = Counters()
        self.visitors: list[Visitor] = []
        self.agents: list[aiohttp.ClientWebSocketResponse] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.latency_t0 = 0.0
        self.latency_rate = 1.0

    async def connect(self, session: aiohttp.ClientSession) -> None:
        n_agents, n_visitors = self.job["agents"], self.job["visitors"]
        if self.mode == "host":
            tokens = self.job["agent_tokens"]
            self.agents = await asyncio.gather(
                *(
                    session.ws_connect(
                        f"{self.agent_urls[k % len(self.agent_urls)]}/ws/agent",
                        headers={"Authorization": f"Bearer {t}"},
                        autoping=True,
                    )
                    for k, t in enumerate(tokens)
                )
            )
        else:
            self.agents = await asyncio.gather(
                *(session.ws_connect(f"{self.url}/agent?i={k}") for k in range(n_agents))
            )
        await asyncio.gather(*(expect_welcome(ws) for ws in self.agents))
        for ws in self.agents:
            self.tasks.append(asyncio.create_task(self.agent_reader(ws)))
        if self.mode == "host":
            bases = [self.visitor_urls[n % len(self.visitor_urls)] for n in range(n_visitors)]
            vtokens = await gather_limited([visitor_token(session, base) for base in bases], 20)
            urls = [f"{base}/ws/visitor?token={t}" for base, t in zip(bases, vtokens, strict=True)]
        else:
            urls = [f"{self.url}/visitor?i={n}" for n in range(n_visitors)]
        sockets = await gather_limited([session.ws_connect(u) for u in urls], 50)
        await asyncio.gather(*(expect_welcome(ws) for ws in sockets))
        for n, ws in enumerate(sockets):
            v = Visitor(n, ws)
            v.reader = asyncio.create_task(self.visitor_reader(v))
            self.visitors.append(v)

    async def agent_reader(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        c = self.c
        async for msg in ws:
            if msg.type != TEXT:
                continue
            data = orjson.loads(msg.data)
            kind = data.get("type")
            if kind == "message" and data.get("sender") == "visitor":
                now = time.monotonic()
                cmid = data.get("client_msg_id") or "?"
                phase = cmid[0]
                c.bump(c.at_agents, phase)
                c.agent_ids.setdefault(phase, set()).add(cmid)
                c.last_agent = now
                if phase == "l":
                    k = int(cmid[1:].split("-", 1)[0])
                    c.lat_agent_sched.append(now - (self.latency_t0 + k / self.latency_rate))
                    c.lat_agent_sent.append(now - float(data["body"].rsplit(" ", 1)[1]))
            elif kind == "assigned":
                c.assigned += 1
                for m in data.get("messages", ()):  # an assignment carries the opening message(s)
                    if m.get("sender") == "visitor" and m.get("client_msg_id"):
                        c.bump(c.at_agents, m["client_msg_id"][0])
            elif kind == "error":
                c.bump(c.errors, f"agent:{data.get('code')}")

    async def visitor_reader(self, v: Visitor) -> None:
        c = self.c
        async for msg in v.ws:
            if msg.type != TEXT:
                continue
            data = orjson.loads(msg.data)
            kind = data.get("type")
            if kind == "ack":
                now = time.monotonic()
                cmid = data.get("client_msg_id") or "?"
                phase = cmid[0]
                c.bump(c.acks, phase)
                c.last_ack = now
                if phase == "l":
                    k = int(cmid[1:].split("-", 1)[0])
                    c.lat_ack_sched.append(now - (self.latency_t0 + k / self.latency_rate))
                v.outstanding -= 1
                v.room.set()
            elif kind == "error":
                c.bump(c.errors, f"visitor:{data.get('code')}")
                if data.get("ref"):  # a refused send will never be acked: free its slot
                    v.outstanding -= 1
                    v.room.set()
        # the host closed it (4008: this generator read too slowly): in the report, and nothing more is sent on it
        c.bump(c.errors, f"visitor_socket_closed:{v.ws.close_code}")
        v.room.set()

    async def wait_for(self, predicate: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return predicate()

    async def send(self, v: Visitor, phase: str, k: int, extra: str = "") -> None:
        if v.ws.closed:
            return
        body = f"{FILLER} {extra}{time.monotonic():.6f}"
        v.outstanding += 1
        self.c.bump(self.c.sent, phase)
        try:
            await v.ws.send_str(
                orjson.dumps({"type": "send", "client_msg_id": f"{phase}{k}-{v.index}", "body": body}).decode()
            )
        except aiohttp.ClientConnectionResetError:
            self.c.bump(self.c.errors, "visitor_send_on_closing_socket")

    def done(self, phase: str) -> bool:
        c = self.c
        n = c.sent.get(phase, 0)
        return c.acks.get(phase, 0) >= n and c.at_agents.get(phase, 0) >= n

    async def open_conversations(self) -> dict[str, Any]:
        """Host only: each visitor's first message opens its conversation; wait until every one is assigned."""
        started = time.monotonic()
        for v in self.visitors:
            await self.send(v, "o", 0)
        ok = await self.wait_for(lambda: self.done("o") and self.c.assigned >= len(self.visitors), 20)
        return {"ok": ok, "assigned": self.c.assigned, "seconds": round(time.monotonic() - started, 3)}

    async def windowed(
        self, phase: str, duration: float, max_per_visitor: int, window: int
    ) -> tuple[float, float]:
        """Every visitor keeps ``window`` messages in flight until ``duration`` is over (or it sent its maximum)."""
        start = time.monotonic()
        stop_at = start + duration

        async def run(v: Visitor) -> None:
            for k in range(max_per_visitor):
                while v.outstanding >= window:
                    v.room.clear()
                    try:
                        await asyncio.wait_for(v.room.wait(), max(0.01, stop_at + 5 - time.monotonic()))
                    except TimeoutError:
                        return
                if time.monotonic() >= stop_at or v.ws.closed:
                    return
                await self.send(v, phase, k)

        await asyncio.gather(*(run(v) for v in self.visitors))
        return start, time.monotonic()

    async def throughput(self, spec: dict[str, Any]) -> dict[str, Any]:
        c = self.c
        window = spec["window"]
        # warm-up: not counted
        await self.windowed("w", spec["warm_seconds"], spec["max_per_visitor"], window)
        warm_ok = await self.wait_for(lambda: self.done("w"), 10)
        if self.job.get("emit_events"):
            sys.stdout.write('{"event": "measure_start"}\n')
            sys.stdout.flush()
        with quiet_gc():
            cpu = CpuWindow(self.job["server_pid"])
            start, _ = await self.windowed("m", spec["duration"], spec["max_per_visitor"], window)
            cpu_use = cpu.result()  # over the sending window, when the load is steady
            drained = await self.wait_for(lambda: self.done("m"), 10)
        end = max(c.last_ack, c.last_agent)
        elapsed = end - start
        sent, acks, at_agents = c.sent.get("m", 0), c.acks.get("m", 0), c.at_agents.get("m", 0)
        distinct = len(c.agent_ids.get("m", ()))
        return {
            "window": window,
            "warm_ok": warm_ok,
            "sent": sent,
            "acks": acks,
            "at_agents": at_agents,
            "distinct_at_agents": distinct,
            "complete": drained and sent == acks == at_agents == distinct,
            "seconds": round(elapsed, 3),
            "msgs_per_s": round(acks / elapsed, 1) if elapsed > 0 else 0.0,
            **cpu_use,
            "errors": dict(c.errors),
        }

    async def latency(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Open loop: message k is due at t0 + k/rate, from visitor k % n, whatever happened to earlier ones."""
        c = self.c
        rate, duration = spec["rate"], spec["duration"]
        total = int(rate * duration)
        n = len(self.visitors)
        self.latency_rate = rate
        self.latency_t0 = t0 = time.monotonic() + 0.1
        if self.job.get("emit_events"):
            sys.stdout.write('{"event": "measure_start"}\n')
            sys.stdout.flush()
        with quiet_gc():
            cpu = CpuWindow(self.job["server_pid"])
            k = 0
            while k < total:
                now = time.monotonic()
                due = t0 + k / rate
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                while k < total and t0 + k / rate <= now:
                    v = self.visitors[k % n]
                    sent_at = time.monotonic()
                    c.lat_send_lag.append(sent_at - (t0 + k / rate))
                    await self.send(v, "l", k)
                    k += 1
            sending_ended = time.monotonic()
            cpu_use = cpu.result()
            drained = await self.wait_for(lambda: self.done("l"), 10)
        elapsed = sending_ended - t0
        return {
            "offered_rate": rate,
            "sent": c.sent.get("l", 0),
            "achieved_send_rate": round(c.sent.get("l", 0) / elapsed, 1) if elapsed > 0 else 0.0,
            "acks": c.acks.get("l", 0),
            "at_agents": c.at_agents.get("l", 0),
            "complete": drained,
            "visitor_send_to_agent_receive": percentiles(c.lat_agent_sent),
            "scheduled_to_agent_receive": percentiles(c.lat_agent_sched),
            "scheduled_to_ack": percentiles(c.lat_ack_sched),
            "send_lag_behind_schedule": percentiles(c.lat_send_lag),
            **cpu_use,
            "errors": dict(c.errors),
        }

    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            t = time.monotonic()
            await self.connect(session)
            out["connect_seconds"] = round(time.monotonic() - t, 3)
            if self.mode == "host":
                out["open"] = await self.open_conversations()
            if self.job.get("throughput"):
                out["throughput"] = await self.throughput(self.job["throughput"])
            if self.job.get("latency"):
                out["latency"] = await self.latency(self.job["latency"])
            for v in self.visitors:
                await v.ws.close()
            for ws in self.agents:
                await ws.close()
            for task in [*self.tasks, *(v.reader for v in self.visitors if v.reader)]:
                task.cancel()
        return out


# --- idle job: many idle visitor sockets --------------------------------------------------------------------------


async def idle_job(job: dict[str, Any]) -> None:
    """Commands on stdin, one per line: ``connect`` opens the sockets, ``close`` closes them and exits.

    Before the first command the job fetches its visitor tokens (host mode) and opens and closes a warm-up batch
    of sockets, then prints ``{"ready": ...}``; after ``connect`` it prints ``{"connected": ...}``.
    """
    mode, url, count, warm = job["mode"], job["url"], job["count"], job["warm"]
    base = job["index_base"]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def emit(data: dict[str, Any]) -> None:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        sys.stdout.flush()

    connector = aiohttp.TCPConnector(limit=0)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    readers: list[asyncio.Task[None]] = []

    async def keep_reading(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:  # answers the host's heartbeat pings
            pass

    async def open_one(u: str) -> aiohttp.ClientWebSocketResponse:
        ws = await session.ws_connect(u)
        await expect_welcome(ws, 30)
        return ws

    async with aiohttp.ClientSession(connector=connector) as session:
        t = time.monotonic()
        if mode == "host":
            tokens = await gather_limited([visitor_token(session, url) for _ in range(count + warm)], 32)
            urls = [f"{url}/ws/visitor?token={tok}" for tok in tokens]
        else:
            urls = [f"{url}/visitor?i={base + n}" for n in range(count + warm)]
        token_seconds = time.monotonic() - t
        warm_sockets = await gather_limited([open_one(u) for u in urls[:warm]], 50)
        for ws in warm_sockets:
            await ws.close()
        emit({"ready": True, "token_seconds": round(token_seconds, 3)})
        while True:
            line = (await reader.readline()).decode().strip()
            if line == "connect":
                t = time.monotonic()
                sockets = await gather_limited(
                    [open_one(u) for u in urls[warm:]], job.get("concurrency", 100)
                )
                readers = [asyncio.create_task(keep_reading(ws)) for ws in sockets]
                emit({"connected": len(sockets), "seconds": round(time.monotonic() - t, 3)})
            elif line in ("close", ""):
                await gather_limited([ws.close() for ws in sockets], 200)
                for task in readers:
                    task.cancel()
                emit({"closed": len(sockets)})
                return


def main() -> None:
    import uvloop

    raise_nofile()
    role, job = sys.argv[1], orjson.loads(sys.argv[2])
    remaining = max(1.0, job["deadline"] - time.time())

    async def go() -> None:
        if role == "chat":
            result = await asyncio.wait_for(ChatLoad(job).run(), remaining)
            sys.stdout.write(orjson.dumps(result).decode() + "\n")
        else:
            await asyncio.wait_for(idle_job(job), remaining)

    uvloop.run(go())


if __name__ == "__main__":
    main()
