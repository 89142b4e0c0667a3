"""Benchmark of the chat path: the real host next to a bare aiohttp WebSocket relay, in the same run.

Run with ``.venv/bin/python benchmarks/bench_chat.py`` (add ``--json out.json`` for the numbers, ``--runs 3`` to
repeat the throughput and latency phases, ``--profile`` to sample the host with py-spy under the throughput load).
It is not a test: it prints a report. All traffic goes to 127.0.0.1; every phase is bounded in count and time and
the whole run is cut at ``--max-seconds`` (default 300).

Phases (each server in its own process, each load generator in its own processes):

1. Throughput, bare relay: _chat_relay.py; 100 visitor sockets send JSON messages, each is forwarded to one of
   20 agent sockets and acked. Closed loop, ``--window`` messages in flight per visitor, ``--duration`` seconds
   after a warm-up. messages/s = acks / seconds; the agents must receive exactly what was sent.
2. Throughput, full path: ``python -m kefu_host --config <tmp kefu.toml>`` (a fresh SQLite file, ``[plugins]
   load = []``, a copy of the shipped rules directory, uvloop from the CLI), 20 agents created beforehand with
   ``kefu_host.chat.accounts.add_agent`` (every team, capacity 20), 20 agent sockets, 100 visitors whose
   conversations are opened and assigned before the clock starts. Every message is stored (group commit),
   routed, pushed to the agent and acked. ``chat.visitor_rate``/``visitor_burst`` are raised through
   KEFU_CHAT__VISITOR_RATE/KEFU_CHAT__VISITOR_BURST so the rate limit is not what is measured.
3. Latency at a fixed rate, on both servers: ``--rate`` messages/s (open loop, paced by schedule) spread over the
   100 visitors for ``--latency-seconds``; p50/p99 of visitor send -> agent receive (timestamps in the body).
4. Memory per idle visitor session: RSS (VmRSS) of a fresh server process before and after ``--idle`` idle
   visitor sockets (host: each with its own token from POST /api/visitor/sessions), opened by several client
   processes; (after - before) / count. Both servers.

CPU placement: on a machine with N >= 2 cores, servers are pinned to core 0 (all their threads, the host's
SQLite thread included) and load generators, py-spy and this process to the other cores. Each phase reports the
server's and the load generator's CPU use (% of one core) so a starved generator shows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
TEAMS = ("support", "vip", "risk-control", "backup", "en-desk")
N_AGENTS = 20
N_VISITORS = 100
AGENT_CAPACITY = 20


# --- processes ----------------------------------------------------------------------------------------------------


class Budget:
    """The hard cap of the whole run; every wait takes the smaller of its own limit and what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.time() + seconds

    def left(self) -> float:
        return self.end - time.time()

    def cap(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.left()))

    def deadline(self, seconds: float) -> float:
        return time.time() + self.cap(seconds)


class Procs:
    """Every process this run started, so each is ended (by its pid) whatever happens."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], cpus: set[int] | None, **kw: Any) -> subprocess.Popen[bytes]:
        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        proc = subprocess.Popen(cmd, preexec_fn=pin, **kw)  # noqa: PLW1509 (this process runs no threads)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)


def read_json_line(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The next JSON line the process writes on stdout (other lines are skipped)."""
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no output from pid {proc.pid} within {timeout:.0f}s")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"pid {proc.pid} exited (code {proc.poll()}) before answering")
        with contextlib.suppress(orjson.JSONDecodeError):
            data = orjson.loads(line)
            if isinstance(data, dict):
                return data


def machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_quiet(budget: Budget, max_wait: float, threshold: float = 15.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine is nearly idle: other sessions may share it. Returns the
    busy % of one core seen in the last 1 s sample."""
    end = time.monotonic() + budget.cap(max_wait)
    while True:
        b0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        busy = 100 * (machine_busy_seconds() - b0) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() >= end:
            return round(busy, 1)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- servers ------------------------------------------------------------------------------------------------------


class Server:
    def __init__(self, kind: str, proc: subprocess.Popen[bytes], port: int, log: Path | None = None) -> None:
        self.kind, self.proc, self.port, self.log = kind, proc, port, log
        self.url = f"http://127.0.0.1:{port}"

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_relay(procs: Procs, cpus: set[int] | None, budget: Budget, workdir: Path) -> Server:
    log = workdir / f"relay-{time.monotonic_ns()}.log"
    proc = procs.start(
        [PY, str(HERE / "_chat_relay.py"), "--agents", str(N_AGENTS)],
        cpus,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    hello = read_json_line(proc, budget.cap(15))
    return Server("relay", proc, int(hello["port"]), log)


def write_host_config(workdir: Path, rules: str, src: Path) -> Path:
    if rules == "shipped":
        rules_dir = workdir / "rules"
        shutil.copytree(src / "rules", rules_dir)  # a copy: edits in the checkout must not hot-reload mid-run
    else:
        rules_dir = workdir / "rules-empty"
        rules_dir.mkdir()
    cfg = workdir / "kefu.toml"
    cfg.write_text(
        textwrap.dedent(f"""
        [server]
        host = "127.0.0.1"
        port = 0
        shutdown_timeout = 5.0
        log_format = "json"

        [database]
        url = "sqlite+aiosqlite:///{workdir}/kefu.db"

        [rules]
        directory = "{rules_dir}"

        [secrets]
        visitor_token = "bench-visitor-secret-0123456789"
        identity = "bench-identity-secret-0123456789"
        admin_token = "bench-admin-token-0123456789"

        [chat]
        teams = {list(TEAMS)!r}
        default_team = "support"

        [plugins]
        load = []
        """).replace("'", '"')
    )
    return cfg


AGENTS_SCRIPT = """
import asyncio, sys, orjson
from kefu_host.chat.accounts import add_agent, ensure_teams
from kefu_host.config import database_url, load_config
from kefu_host.store import open_store

cfg, n, capacity, teams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")
config = load_config(cfg, environ={})

async def go():
    async with open_store(database_url(config)) as store:
        await ensure_teams(store, config.chat.teams)
        return list(await asyncio.gather(*(add_agent(store, f"agent{k:02d}", teams, capacity) for k in range(n))))

print(orjson.dumps(asyncio.run(go())).decode())
"""


def create_agents(cfg: Path, src: Path, cpus: set[int] | None) -> list[str]:
    """20 agents in every team (so any routing decision finds one), created with the host's own code (its
    ``kefu_host.chat.accounts.add_agent``) against the host's database before the host starts."""
    proc = subprocess.run(
        [PY, "-c", AGENTS_SCRIPT, str(cfg), str(N_AGENTS), str(AGENT_CAPACITY), ",".join(TEAMS)],
        cwd=src,
        env=host_env([], src),
        capture_output=True,
        timeout=120,
        check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"creating agents failed: {proc.stderr.decode()[-2000:]}")
    return list(orjson.loads(proc.stdout.splitlines()[-1]))


def host_env(extra: list[str], src: Path) -> dict[str, str]:
    """The host's environment: its source first on the path, the visitor rate limit out of the way."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(src),
        "KEFU_CHAT__VISITOR_RATE": "1000000",
        "KEFU_CHAT__VISITOR_BURST": "1000000",
    }
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def start_host(
    procs: Procs,
    cpus: set[int] | None,
    budget: Budget,
    workdir: Path,
    cfg: Path,
    env_extra: list[str],
    src: Path,
) -> Server:
    log = workdir / f"host-{time.monotonic_ns()}.log"
    proc = procs.start(
        [PY, "-m", "kefu_host", "--config", str(cfg)],
        cpus,
        cwd=src,
        env=host_env(env_extra, src),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    end = time.monotonic() + budget.cap(60)
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the host exited with {proc.returncode}; see {log}:\n{log.read_text()[-2000:]}"
            )
        for line in log.read_text().splitlines():
            if '"listening"' in line:
                return Server("host", proc, int(orjson.loads(line)["port"]), log)
        time.sleep(0.05)
    raise TimeoutError(f"the host did not start; see {log}")


def new_host(
    procs: Procs,
    cpus: set[int] | None,
    budget: Budget,
    root: Path,
    name: str,
    args: argparse.Namespace,
) -> tuple[Server, list[str], dict[str, float]]:
    workdir = root / name
    workdir.mkdir()
    t = time.monotonic()
    cfg = write_host_config(workdir, args.rules, args.src)
    tokens = create_agents(cfg, args.src, cpus)
    t_agents = time.monotonic() - t
    t = time.monotonic()
    server = start_host(procs, cpus, budget, workdir, cfg, args.host_env, args.src)
    return server, tokens, {"agents_s": round(t_agents, 2), "start_s": round(time.monotonic() - t, 2)}


# --- phases -------------------------------------------------------------------------------------------------------


def chat_job(
    server: Server,
    tokens: list[str],
    args: argparse.Namespace,
    budget: Budget,
    *,
    latency: bool = True,
    duration: float | None = None,
) -> dict[str, Any]:
    return {
        "mode": server.kind,
        "url": server.url,
        "server_pid": server.pid,
        "agent_tokens": tokens,
        "agents": N_AGENTS,
        "visitors": N_VISITORS,
        "throughput": {
            "duration": duration or args.duration,
            "warm_seconds": args.warm,
            "max_per_visitor": args.max_per_visitor,
            "window": args.window,
        },
        "latency": {"rate": args.rate, "duration": args.latency_seconds}
        if latency and args.latency_seconds > 0
        else None,
        "deadline": budget.deadline(90),
    }


def run_chat_load(
    procs: Procs, cpus: set[int] | None, job: dict[str, Any], workdir: Path, on_event: Any = None
) -> dict[str, Any]:
    log = workdir / f"load-{time.monotonic_ns()}.log"
    proc = procs.start(
        [PY, str(HERE / "_chat_load.py"), "chat", orjson.dumps(job).decode()],
        cpus,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    try:
        while True:
            data = read_json_line(proc, max(1.0, job["deadline"] - time.time() + 5))
            if "event" in data:
                if on_event is not None:
                    on_event(data)
                continue
            return data
    except (TimeoutError, RuntimeError) as exc:
        raise RuntimeError(f"load generator failed: {exc}; see {log}:\n{log.read_text()[-3000:]}") from None
    finally:
        Procs.stop(proc, 5)


def idle_memory(
    procs: Procs, server: Server, count: int, n_workers: int, load_cpus: set[int] | None, budget: Budget
) -> dict[str, Any]:
    """RSS of the server before and after ``count`` idle visitor sockets spread over ``n_workers`` processes."""
    per = [count // n_workers + (1 if n < count % n_workers else 0) for n in range(n_workers)]
    deadline = budget.deadline(150)
    workers = []
    for n, share in enumerate(per):
        job = {
            "mode": server.kind,
            "url": server.url,
            "count": share,
            "warm": 25,
            "deadline": deadline,
            "index_base": sum(per[:n]) + 1_000_000,
            "concurrency": 100,
        }
        workers.append(
            procs.start(
                [PY, str(HERE / "_chat_load.py"), "idle", orjson.dumps(job).decode()],
                load_cpus,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        t = time.monotonic()
        ready = [read_json_line(w, max(1.0, deadline - time.time())) for w in workers]
        token_s = round(time.monotonic() - t, 2)
        time.sleep(1.0)
        before = rss_kib(server.pid)
        t = time.monotonic()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(b"connect\n")
            w.stdin.flush()
        connected = [read_json_line(w, max(1.0, deadline - time.time())) for w in workers]
        connect_s = round(time.monotonic() - t, 2)
        opened = sum(int(c.get("connected", 0)) for c in connected)
        samples = []
        for _ in range(3):  # let the server settle, and show whether the number is still moving
            time.sleep(1.0)
            samples.append(rss_kib(server.pid))
        after = samples[-1]
        threads = threads_of(server.pid)
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(b"close\n")
            w.stdin.flush()
        for w in workers:
            with contextlib.suppress(TimeoutError, RuntimeError):
                read_json_line(w, max(1.0, min(20, deadline - time.time())))
        time.sleep(1.0)
        after_close = rss_kib(server.pid)
    finally:
        for w in workers:
            Procs.stop(w, 5)
    return {
        "sockets": opened,
        "asked": count,
        "ready": all(r.get("ready") for r in ready),
        "token_seconds": token_s,
        "connect_seconds": connect_s,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_samples_kib": samples,
        "rss_after_close_kib": after_close,
        "server_threads": threads,
        "kib_per_socket": round((after - before) / max(opened, 1), 2),
    }


def profile_host(
    procs: Procs,
    server: Server,
    tokens: list[str],
    args: argparse.Namespace,
    budget: Budget,
    root: Path,
    cpus: set[int] | None,
) -> dict[str, Any]:
    """py-spy record (from outside, per thread, ``--profile-rate``/``--profile-args``) under one phase's load."""
    pyspy = shutil.which("py-spy", path=f"{Path(PY).parent}:{os.environ.get('PATH', '')}")
    if pyspy is None:
        return {"error": "py-spy not found: .venv/bin/pip install py-spy"}
    raw = root / "host-profile.txt"
    duration = max(4, int(args.duration))
    recorder: dict[str, subprocess.Popen[bytes]] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "measure_start" and "p" not in recorder:
            recorder["p"] = procs.start(
                [
                    pyspy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--duration",
                    str(duration),
                    "--rate",
                    str(args.profile_rate),
                    "--format",
                    "raw",
                    "--threads",
                    "--output",
                    str(raw),
                    *args.profile_args.split(),
                ],
                cpus,
                stdout=subprocess.DEVNULL,
                stderr=(root / "py-spy.log").open("wb"),
            )

    job = chat_job(
        server, tokens, args, budget, latency=args.profile_phase == "latency", duration=duration + 1
    )
    if args.profile_phase == "latency":
        job["throughput"] = None
        job["latency"] = {"rate": args.rate, "duration": duration + 1}
    job["emit_events"] = True
    result = run_chat_load(procs, cpus, job, root, on_event)
    if "p" in recorder:
        try:
            recorder["p"].wait(budget.cap(30))
        except subprocess.TimeoutExpired:
            Procs.stop(recorder["p"])
    out: dict[str, Any] = {
        "phase": args.profile_phase,
        "raw_file": str(raw),
        "py_spy_args": args.profile_args,
        "rate": args.profile_rate,
        "load_while_profiling": result.get(args.profile_phase),
    }
    if raw.exists():
        out.update(summarise_profile(raw.read_text()))
    else:
        out["error"] = f"py-spy wrote nothing; see {root / 'py-spy.log'}"
    return out


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``; a location-less frame stays as is."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if "kefu_host/" in path:
        path = "kefu_host/" + path.split("kefu_host/", 1)[1]
    return f"{name} ({path})"


def _area(frame: str) -> str:
    name = _frame_name(frame)
    for prefix, area in (
        ("kefu_host/store", "kefu_host.store (group commit)"),
        ("kefu_host/chat", "kefu_host.chat"),
        ("kefu_host/routing", "kefu_host.routing"),
        ("kefu_host/rules", "kefu_host.rules"),
        ("kefu_host", "kefu_host (other)"),
        ("sqlalchemy/", "sqlalchemy"),
        ("aiosqlite/", "aiosqlite"),
        ("aiohttp/", "aiohttp"),
        ("structlog/", "structlog"),
        ("asyncio/", "asyncio"),
        ("uvloop/", "uvloop"),
        ("sqlite3", "sqlite3"),
        ("threading.py", "threading"),
        ("queue.py", "queue"),
    ):
        if prefix in name:
            return area
    return "other"


def _short_thread(thread: str) -> str:
    """``thread (123): Thread-1 (_connection_worker_thread)`` -> ``Thread-1 (_connection_worker_thread)``."""
    return thread.split("): ", 1)[1] if "): " in thread else thread


_OUTER = ("kefu_host/__main__.py", "kefu_host/cli/", "kefu_host/http.py", "threading.py", "<frozen runpy>")


def _activity(frames: list[str]) -> str:
    """What a sample was busy with, top-down: the first two host frames below the entry points (the task or
    request handler and what it was doing), else the library frame where it ended."""
    names = [_frame_name(f) for f in frames]
    ours = [n.split(" (")[0] for n in names if "kefu_host/" in n and not any(o in n for o in _OUTER)]
    if ours:
        return " > ".join(dict.fromkeys(ours[:2]))
    if names and names[-1].startswith("Runner.run"):
        return "event loop itself (uvloop C: socket I/O, callbacks, task steps)"
    return names[-1] if names else "?"


def summarise_profile(text: str) -> dict[str, Any]:
    """Self and inclusive sample counts per function, per thread, from py-spy's raw (collapsed) output."""
    threads: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas_self: Counter[str] = Counter()
    activity: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, frames = (
            (frames[0], frames[1:]) if frames[0].startswith(("thread", "process")) else ("?", frames)
        )
        if frames and frames[0].startswith("process"):
            frames = frames[1:]
        total += count
        threads[thread] += count
        if not frames:
            continue
        self_time[_frame_name(frames[-1])] += count
        areas_self[_area(frames[-1])] += count
        activity[f"{_short_thread(thread)}: {_activity(frames)}"] += count
        for name in {_frame_name(f) for f in frames}:
            inclusive[name] += count
    return {
        "samples": total,
        "threads": {k: v for k, v in threads.most_common()},
        "self_top": [(k, v, round(100 * v / max(total, 1), 1)) for k, v in self_time.most_common(30)],
        "inclusive_top": [(k, v, round(100 * v / max(total, 1), 1)) for k, v in inclusive.most_common(45)],
        "by_activity": [(k, v, round(100 * v / max(total, 1), 1)) for k, v in activity.most_common(25)],
        "self_by_area": [(k, v, round(100 * v / max(total, 1), 1)) for k, v in areas_self.most_common()],
    }


# --- report -------------------------------------------------------------------------------------------------------


def contaminated(phase: dict[str, Any], limit: float) -> bool:
    """Other processes (another session's tests, say) took more than ``limit`` % of a core during the phase."""
    return bool(phase) and float(phase.get("other_cpu_pct") or 0.0) > limit


def fmt_latency(lat: dict[str, Any] | None) -> str:
    if not lat or not lat.get("n"):
        return "no samples"
    return (
        f"p50 {lat['p50_ms']:.2f} ms  p90 {lat['p90_ms']:.2f}  p99 {lat['p99_ms']:.2f}  "
        f"p99.9 {lat['p999_ms']:.2f}  max {lat['max_ms']:.2f}  (n={lat['n']})"
    )


def print_report(report: dict[str, Any]) -> None:
    p = print
    limit = report["settings"]["max_other"]

    def flag(phase: dict[str, Any]) -> str:
        return (
            f"  [CONTAMINATED: other processes used {phase.get('other_cpu_pct')}% of a core; left out of the "
            f"summary]"
            if contaminated(phase, limit)
            else ""
        )

    m = report["machine"]
    p(
        f"\nkefu-host chat benchmark  ({m['python']}, {m['cpus']} cores, server cores {m['server_cpus']}, "
        f"load cores {m['load_cpus']})"
    )
    p(f"checkout {m['git']}; command: {report['command']}")
    for n, run in enumerate(report["runs"], 1):
        p(f"\n== run {n} ==")
        for kind in ("relay", "host"):
            r = run.get(kind)
            if not r:
                continue
            if "error" in r:
                p(f"  {kind}: ERROR {r['error'][:500]}")
                continue
            t = r.get("throughput", {})
            label = "bare relay" if kind == "relay" else "full path "
            p(
                f"  {label} throughput: {t.get('msgs_per_s', 0):>9,.0f} msg/s  sent {t.get('sent')} acked "
                f"{t.get('acks')} at agents {t.get('at_agents')} (distinct {t.get('distinct_at_agents')})  "
                f"complete={t.get('complete')}  {t.get('seconds')} s  errors {t.get('errors') or '-'}{flag(t)}"
            )
            p(
                f"      CPU (% of one core): server {t.get('server_cpu_pct')}  load {t.get('load_cpu_pct')}  "
                f"machine {t.get('machine_busy_pct')}  other {t.get('other_cpu_pct')}  "
                f"(machine busy before the phase: {r.get('machine_busy_before_pct')})"
            )
            p(
                f"      server threads (thread id: % of one core; the main thread's id is the pid {r.get('pid')}): "
                f"{t.get('server_threads_cpu_pct')}"
            )
            lat = r.get("latency")
            if lat:
                p(
                    f"  {label} latency at {lat['offered_rate']} msg/s offered ({lat['achieved_send_rate']} sent/s, "
                    f"{lat['at_agents']}/{lat['sent']} at agents; CPU server {lat['server_cpu_pct']}% "
                    f"load {lat['load_cpu_pct']}% machine {lat['machine_busy_pct']}% other {lat['other_cpu_pct']}%)"
                    f"{flag(lat)}:"
                )
                p(f"      send -> agent:           {fmt_latency(lat['visitor_send_to_agent_receive'])}")
                p(f"      schedule -> agent:       {fmt_latency(lat['scheduled_to_agent_receive'])}")
                p(f"      schedule -> ack:         {fmt_latency(lat['scheduled_to_ack'])}")
                p(f"      send lag (generator):    {fmt_latency(lat['send_lag_behind_schedule'])}")
        if run.get("ratio") is not None:
            p(
                f"  full path / bare relay = {run['ratio']:.1%}   (target >= 30%: "
                f"{'HOLDS' if run['ratio'] >= 0.30 else 'MISSED'})"
            )
    s = report.get("summary")
    if s:
        p(f"\n== summary (phases where other processes used more than {limit}% of a core left out) ==")
        for key, values in s.items():
            if values:
                p(
                    f"  {key}: "
                    + ", ".join(f"{v:,.2f}" for v in values)
                    + (f"   median {statistics.median(values):,.2f}" if len(values) > 1 else "")
                )
    mem = report.get("memory")
    if mem:
        p("\n== memory per idle visitor socket ==")
        for kind in ("relay", "host"):
            r = mem.get(kind)
            if not r:
                continue
            if "error" in r:
                p(f"  {kind}: ERROR {r['error'][:500]}")
                continue
            p(
                f"  {kind:5}: {r['sockets']} sockets: RSS {r['rss_before_kib']:,} -> {r['rss_after_kib']:,} KiB "
                f"(samples {r['rss_samples_kib']}, after close {r['rss_after_close_kib']:,})  = "
                f"{r['kib_per_socket']:.2f} KiB per socket  [tokens {r['token_seconds']} s, connect "
                f"{r['connect_seconds']} s, {r['server_threads']} threads, machine busy before "
                f"{r.get('machine_busy_before_pct')}%]"
            )
        host = mem.get("host", {})
        if "kib_per_socket" in host:
            p(
                f"  target <= 25 KB per idle session: {'HOLDS' if host['kib_per_socket'] * 1.024 <= 25 else 'MISSED'}"
            )
    prof = report.get("profile")
    if prof:
        p(
            f"\n== host profile under the {prof.get('phase')} load (py-spy record, {prof.get('rate')} Hz, {prof.get('py_spy_args')}) =="
        )
        if "error" in prof:
            p(f"  {prof['error']}")
        else:
            t = prof.get("load_while_profiling") or {}
            if prof["phase"] == "throughput":
                p(f"  {prof['samples']} samples; throughput while sampled {t.get('msgs_per_s')} msg/s")
            else:
                p(
                    f"  {prof['samples']} samples; latency phase at {t.get('offered_rate')} msg/s while sampled, "
                    f"send -> agent {fmt_latency(t.get('visitor_send_to_agent_receive'))}"
                )
            p(
                f"  server threads CPU while sampled: {t.get('server_threads_cpu_pct')}; raw stacks: {prof['raw_file']}"
            )
            p(f"  threads: {prof['threads']}")
            p("  busy samples by thread and activity (top-down: the host frames nearest the entry point):")
            for name, n, pct in prof["by_activity"]:
                p(f"    {pct:5.1f}%  {n:6}  {name}")
            p("  self time by area:")
            for name, n, pct in prof["self_by_area"]:
                p(f"    {pct:5.1f}%  {n:6}  {name}")
            p("  self time, top functions:")
            for name, n, pct in prof["self_top"][:20]:
                p(f"    {pct:5.1f}%  {n:6}  {name}")
            p("  inclusive time, top functions:")
            for name, n, pct in prof["inclusive_top"][:40]:
                p(f"    {pct:5.1f}%  {n:6}  {name}")
    for note in report.get("notes", []):
        p(f"note: {note}")


# --- main ---------------------------------------------------------------------------------------------------------


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        return f"{head}{' + uncommitted changes' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def host_source(spec: str, root: Path) -> Path:
    if spec == "checkout":
        return REPO
    if spec == "HEAD":
        dest = root / "src-HEAD"
        dest.mkdir()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD", "kefu_host", "rules"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=60)
        return dest
    return Path(spec).resolve()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--runs", type=int, default=1, help="repeat the throughput and latency phases (default 1)")
    p.add_argument(
        "--duration", type=float, default=8.0, help="seconds of measured throughput load (default 8)"
    )
    p.add_argument("--warm", type=float, default=2.0, help="seconds of warm-up before it (default 2)")
    p.add_argument("--window", type=int, default=8, help="messages in flight per visitor (default 8)")
    p.add_argument("--max-per-visitor", type=int, default=20000, help="count bound per visitor and phase")
    p.add_argument("--rate", type=float, default=1000.0, help="offered messages/s in the latency phase")
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument(
        "--idle", type=int, default=10000, help="idle visitor sockets for the memory phase (0: skip)"
    )
    p.add_argument("--idle-workers", type=int, default=4, help="client processes holding the idle sockets")
    p.add_argument(
        "--profile", action="store_true", help="sample the host with py-spy under the throughput load"
    )
    p.add_argument(
        "--profile-phase",
        choices=("throughput", "latency"),
        default="throughput",
        help="the load the profile is taken under (default throughput)",
    )
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second (default 200)")
    p.add_argument(
        "--profile-args",
        default="--nonblocking",
        help="extra py-spy record options (default --nonblocking; e.g. '--native' or '--gil')",
    )
    p.add_argument(
        "--rules",
        choices=("shipped", "empty"),
        default="shipped",
        help="the host's rules: a copy of ./rules (default) or an empty directory",
    )
    p.add_argument(
        "--host-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the host, e.g. KEFU_DATABASE__SQLITE_SYNCHRONOUS=normal",
    )
    p.add_argument(
        "--host-src",
        default="checkout",
        metavar="checkout|HEAD|DIR",
        help="which host code runs: the working tree (default), the committed HEAD (extracted with\n"
        "git archive into the temporary directory), or a directory holding kefu_host/ and rules/",
    )
    p.add_argument("--only", choices=("relay", "host"), help="run the chat phases on one server only")
    p.add_argument("--no-pin", action="store_true", help="do not pin servers and load generators to cores")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each phase wait up to this many seconds for the machine to be idle (default 20)",
    )
    p.add_argument(
        "--max-other",
        type=float,
        default=25.0,
        help="a phase during which other processes used more than this %% of a core is flagged and\n"
        "left out of the summary (default 25)",
    )
    p.add_argument("--max-seconds", type=float, default=300.0, help="hard cap of the whole run (default 300)")
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, database, profile)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget = Budget(args.max_seconds)
    raise_nofile()
    cpus = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(cpus) < 2:
        server_cpus, load_cpus = None, None
    else:
        server_cpus, load_cpus = {cpus[0]}, set(cpus[1:])
        os.sched_setaffinity(0, load_cpus)
    root = Path(tempfile.mkdtemp(prefix="kefu-bench-chat-"))
    args.src = host_source(args.host_src, root)
    procs = Procs()
    report: dict[str, Any] = {
        "command": " ".join([Path(PY).name, *sys.argv]),
        "machine": {
            "python": platform.python_version(),
            "cpus": len(cpus),
            "server_cpus": sorted(server_cpus) if server_cpus else "any",
            "load_cpus": sorted(load_cpus) if load_cpus else "any",
            "git": git_state(),
            "host_src": args.host_src,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": [],
        "notes": [],
    }
    try:
        for n in range(args.runs):
            run: dict[str, Any] = {}
            report["runs"].append(run)
            if budget.left() < 40:
                report["notes"].append(f"run {n + 1} skipped: the {args.max_seconds:.0f} s cap is near")
                break
            if args.only != "host":
                server = None
                try:
                    server = start_relay(procs, server_cpus, budget, root)
                    busy = wait_quiet(budget, args.quiet_wait)
                    run["relay"] = run_chat_load(procs, load_cpus, chat_job(server, [], args, budget), root)
                    run["relay"]["machine_busy_before_pct"] = busy
                    run["relay"]["pid"] = server.pid
                except Exception as exc:  # noqa: BLE001 (a failed phase is reported, the others still run)
                    run["relay"] = {"error": f"{type(exc).__name__}: {exc}"}
                finally:
                    if server:
                        Procs.stop(server.proc)
            if args.only != "relay":
                server = None
                try:
                    server, tokens, setup = new_host(
                        procs, server_cpus, budget, root, f"host-run{n + 1}", args
                    )
                    busy = wait_quiet(budget, args.quiet_wait)
                    run["host"] = run_chat_load(
                        procs, load_cpus, chat_job(server, tokens, args, budget), root
                    )
                    run["host"]["setup"] = setup
                    run["host"]["machine_busy_before_pct"] = busy
                    run["host"]["pid"] = server.pid
                    if args.profile and n == args.runs - 1:
                        report["profile"] = profile_host(procs, server, tokens, args, budget, root, load_cpus)
                except Exception as exc:  # noqa: BLE001 (a failed phase is reported, the others still run)
                    run.setdefault("host", {})["error"] = f"{type(exc).__name__}: {exc}"
                finally:
                    if server:
                        Procs.stop(server.proc)
            relay_rate = run.get("relay", {}).get("throughput", {}).get("msgs_per_s")
            host_rate = run.get("host", {}).get("throughput", {}).get("msgs_per_s")
            if relay_rate and host_rate:
                run["ratio"] = host_rate / relay_rate

        def series(kind: str, *path: str) -> list[float]:
            out = []
            for run in report["runs"]:
                if contaminated(run.get(kind, {}).get(path[0], {}), args.max_other):
                    continue
                node: Any = run.get(kind, {})
                for key in path:
                    node = node.get(key, {}) if isinstance(node, dict) else {}
                if isinstance(node, int | float):
                    out.append(float(node))
            return out

        report["summary"] = {
            "bare relay msg/s": series("relay", "throughput", "msgs_per_s"),
            "full path msg/s": series("host", "throughput", "msgs_per_s"),
            "full path / relay %": [
                100 * r["ratio"]
                for r in report["runs"]
                if r.get("ratio")
                and not any(
                    contaminated(r[k].get("throughput", {}), args.max_other) for k in ("relay", "host")
                )
            ],
            "full path p99 send->agent ms": series(
                "host", "latency", "visitor_send_to_agent_receive", "p99_ms"
            ),
            "full path p50 send->agent ms": series(
                "host", "latency", "visitor_send_to_agent_receive", "p50_ms"
            ),
            "bare relay p99 send->agent ms": series(
                "relay", "latency", "visitor_send_to_agent_receive", "p99_ms"
            ),
        }

        if args.idle > 0:
            mem: dict[str, Any] = {}
            report["memory"] = mem
            for kind in ("relay", "host"):
                if budget.left() < 30:
                    report["notes"].append(
                        f"memory phase ({kind}) skipped: the {args.max_seconds:.0f} s cap is near"
                    )
                    continue
                server = None
                try:
                    if kind == "relay":
                        server = start_relay(procs, server_cpus, budget, root)
                    else:
                        server, _, _ = new_host(procs, server_cpus, budget, root, "host-memory", args)
                    busy = wait_quiet(budget, args.quiet_wait)
                    mem[kind] = idle_memory(procs, server, args.idle, args.idle_workers, load_cpus, budget)
                    mem[kind]["machine_busy_before_pct"] = busy
                except Exception as exc:  # noqa: BLE001 (a failed phase is reported, the others still run)
                    mem[kind] = {"error": f"{type(exc).__name__}: {exc}"}
                finally:
                    if server:
                        Procs.stop(server.proc)
    finally:
        procs.stop_all()
        if args.keep or args.profile:
            report["notes"].append(f"logs, databases and raw profile kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
