"""Benchmark of the write paths on both databases: CPU per chat message and per business event, SQLite next to
PostgreSQL, in one run.

Run with ``.venv/bin/python benchmarks/bench_store.py --pg-url postgresql+asyncpg://USER@127.0.0.1/DB`` (the
database's ``public`` schema is dropped and recreated for every host; or set KEFU_BENCH_POSTGRES_URL). ``--json
out.json`` for the numbers, ``--runs 3`` to repeat. Not a test: it prints a report. Traffic goes to 127.0.0.1 only;
every phase is bounded in count and time and the whole run stops at ``--max-seconds``.

For each database, in turn (SQLite first, then PostgreSQL), each phase on a fresh host with a fresh database:

- **Chat**: the throughput phase of bench_chat.py (``_chat_load.py``: 20 agents, 100 visitors, ``--window``
  messages in flight per visitor, ``--warm`` s of warm-up then ``--duration`` s measured; every message stored,
  routed, pushed to its agent and acked).
- **Events**: the host phase of bench_events.py (``_events_load.py``: 100 identified, assigned conversations, signed
  ``user.profile_updated`` events from ``--concurrency`` clients, closed loop, a 1 s warm-up window then
  ``--events-window`` s measured; every event recorded and pushed to the agent).

Reported for each: throughput, the host process's CPU (utime + stime of all its threads, from /proc) per message or
event, and on PostgreSQL also the CPU of the database's backends serving the host (read from /proc for the pids
``pg_stat_activity`` lists for the database). CPU time is the figure to compare: this machine is shared, and wall
time moves with the other sessions' load, CPU time much less. The ratios PostgreSQL / SQLite are of host CPU per
item (target: at most 2x per chat message) and the events/s on PostgreSQL (target: at least 2,000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from _chat_load import proc_cpu_seconds
from bench_chat import (
    HERE,
    N_AGENTS,
    N_VISITORS,
    PY,
    REPO,
    Budget,
    Procs,
    Server,
    create_agents,
    read_json_line,
    run_chat_load,
    start_host,
    wait_quiet,
    write_host_config,
)
from bench_events import IDENTITY, SECRET


def reset_pg(url: str) -> None:
    import asyncpg

    async def reset() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()

    asyncio.run(reset())


def backend_pids(url: str) -> list[int]:
    """The pids of the PostgreSQL backends connected to the database of ``url`` (but this query's own)."""
    import asyncpg

    async def query() -> list[int]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid()")
            return [int(r["pid"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(query())


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = proc_cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


class BackendCpu:
    """CPU seconds the database's backends used between :meth:`start` and :meth:`stop` (PostgreSQL only)."""

    def __init__(self, url: str | None) -> None:
        self.url, self.before, self.seconds = url, {}, None

    def start(self) -> None:
        if self.url:
            self.before = cpu_of(backend_pids(self.url))

    def stop(self) -> float | None:
        if not self.url:
            return None
        after = cpu_of(list(self.before))
        self.seconds = round(sum(after[p] - self.before[p] for p in after), 3)
        return self.seconds


def new_host(procs: Procs, cpus: set[int] | None, budget: Budget, workdir: Path, url: str | None,
             args: argparse.Namespace) -> tuple[Server, list[str]]:
    workdir.mkdir(parents=True)
    src = args.host_src
    cfg = write_host_config(workdir, "shipped", src)
    text = cfg.read_text()
    if url is not None:
        reset_pg(url)
        text = text.replace(f'url = "sqlite+aiosqlite:///{workdir}/kefu.db"', f'url = "{url}"')
    cfg.write_text(text + f'\n[events.sources.bench]\nsecrets = ["{SECRET}"]\n')
    tokens = create_agents(cfg, src, cpus)
    return start_host(procs, cpus, budget, workdir, cfg, args.host_env, src), tokens


def chat_phase(procs: Procs, cpus: tuple[set[int] | None, set[int] | None], budget: Budget, workdir: Path,
               url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    server, tokens = new_host(procs, cpus[0], budget, workdir, url, args)
    backends = BackendCpu(url)
    job = {"mode": "host", "url": server.url, "server_pid": server.pid, "agent_tokens": tokens, "agents": N_AGENTS,
           "visitors": N_VISITORS, "latency": None, "deadline": budget.deadline(90), "emit_events": True,
           "throughput": {"duration": args.duration, "warm_seconds": args.warm,
                          "max_per_visitor": args.max_per_visitor, "window": args.window}}
    try:
        result = run_chat_load(procs, cpus[1], job, workdir,
                               lambda e: backends.start() if e.get("event") == "measure_start" else None)
        backends.stop()
    finally:
        Procs.stop(server.proc)
    t = result["throughput"]
    out = {"per_s": t["msgs_per_s"], "items": t["acks"], "complete": t["complete"], "errors": t["errors"],
           "host_cpu_pct": t["server_cpu_pct"], "other_cpu_pct": t["other_cpu_pct"],
           "host_cpu_us": round(t["server_cpu_pct"] * 1e4 / t["msgs_per_s"], 1) if t["msgs_per_s"] else None}
    if backends.seconds is not None and t["acks"]:
        out["db_cpu_us"] = round(backends.seconds * 1e6 / t["acks"], 1)
    return out


def events_phase(procs: Procs, cpus: tuple[set[int] | None, set[int] | None], budget: Budget, workdir: Path,
                 url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    server, tokens = new_host(procs, cpus[0], budget, workdir, url, args)
    backends = BackendCpu(url)
    job = {"urls": {"host": server.url}, "pids": {"host": server.pid}, "secret": SECRET, "identity": IDENTITY,
           "uids": [f"bench-user-{n}" for n in range(args.customers)], "agent_tokens": tokens,
           "windows": [("host", 1.0), ("host", args.events_window)], "concurrency": args.concurrency,
           "max_events": args.max_events, "bare_pool": 0, "rate": 0, "latency_seconds": 0, "latency_kinds": [],
           "emit_events": True}
    log = workdir / "events-load.log"
    proc = procs.start([PY, str(HERE / "_events_load.py"), orjson.dumps(job).decode()], cpus[1],
                       stdout=subprocess.PIPE, stderr=log.open("wb"))
    try:
        while True:
            raw = read_json_line(proc, budget.cap(120))
            if raw.get("event") != "measure_start":
                break
            backends.start()  # set-up done: every window (warm-up included) is counted for the database
        backends.stop()
    except (TimeoutError, RuntimeError) as exc:
        raise RuntimeError(f"events load failed: {exc}; see {log}:\n{log.read_text()[-3000:]}") from None
    finally:
        Procs.stop(proc, 5)
        Procs.stop(server.proc)
    w = raw["windows"][-1]
    out = {"per_s": w["events_per_s"], "items": w["ok"], "statuses": w["statuses"], "pushes": w["pushes"],
           "host_cpu_pct": w["server_cpu_pct"], "other_cpu_pct": w["other_cpu_pct"],
           "host_cpu_us": round(w["server_cpu_pct"] * 1e4 / w["events_per_s"], 1) if w["events_per_s"] else None}
    total = sum(x["ok"] for x in raw["windows"])
    if backends.seconds is not None and total:
        out["db_cpu_us"] = round(backends.seconds * 1e6 / total, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg-url", default=os.environ.get("KEFU_BENCH_POSTGRES_URL"),
                   help="postgresql+asyncpg://... (its public schema is dropped); or KEFU_BENCH_POSTGRES_URL")
    p.add_argument("--json", type=Path)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--duration", type=float, default=6.0, help="measured seconds of the chat phase")
    p.add_argument("--warm", type=float, default=2.0)
    p.add_argument("--window", type=int, default=8, help="chat messages in flight per visitor")
    p.add_argument("--max-per-visitor", type=int, default=20000)
    p.add_argument("--events-window", type=float, default=5.0, help="measured seconds of the events phase")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--max-events", type=int, default=100_000)
    p.add_argument("--max-seconds", type=float, default=480.0)
    p.add_argument("--host-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--host-src", type=Path, default=REPO,
                   help="a directory holding kefu_host/ and rules/ to run instead of this checkout")
    args = p.parse_args(argv)
    if not args.pg_url:
        p.error("--pg-url (or KEFU_BENCH_POSTGRES_URL) is required")
    budget = Budget(args.max_seconds)
    cpus = host_and_load_cores(args.no_pin)
    procs = Procs()
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-store-") as tmp:
            for run in range(args.runs):
                result: dict[str, Any] = {"quiet_before_pct": wait_quiet(budget, 20)}
                for db, url in (("sqlite", None), ("postgresql", args.pg_url)):
                    root = Path(tmp) / f"run-{run}" / db
                    result[db] = {"chat": chat_phase(procs, cpus, budget, root / "chat", url, args),
                                  "events": events_phase(procs, cpus, budget, root / "events", url, args)}
                result["ratios"] = ratios(result)
                runs.append(result)
                print_run(run + 1, result)
    finally:
        procs.stop_all()
    report_runs(runs, args.json)
    return 0


def host_and_load_cores(no_pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """The first core for the host(s), the others for the load generator (None, None: not pinned)."""
    cores = sorted(os.sched_getaffinity(0))
    return ({cores[0]}, set(cores[1:])) if len(cores) > 1 and not no_pin else (None, None)


def report_runs(runs: list[dict[str, Any]], json_path: Path | None) -> None:
    """The median of each ratio over several runs, printed; every run (and the medians) to ``json_path``."""
    report: dict[str, Any] = {"runs": runs}
    if len(runs) > 1:
        report["median"] = {k: statistics.median(r["ratios"][k] for r in runs) for k in runs[0]["ratios"]}
        print("== median of", len(runs), "runs:", ", ".join(f"{k} {v}" for k, v in report["median"].items()))
    if json_path:
        json_path.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


def ratios(result: dict[str, Any]) -> dict[str, float]:
    sq, pg = result["sqlite"], result["postgresql"]
    out = {}
    for phase in ("chat", "events"):
        if sq[phase]["host_cpu_us"] and pg[phase]["host_cpu_us"]:
            out[f"{phase}_host_cpu_pg_over_sqlite"] = round(pg[phase]["host_cpu_us"] / sq[phase]["host_cpu_us"], 2)
            if "db_cpu_us" in pg[phase]:
                out[f"{phase}_host_and_db_cpu_pg_over_sqlite"] = round(
                    (pg[phase]["host_cpu_us"] + pg[phase]["db_cpu_us"]) / sq[phase]["host_cpu_us"], 2)
        out[f"{phase}_per_s_pg_over_sqlite"] = round(pg[phase]["per_s"] / sq[phase]["per_s"], 2)
    out["events_per_s_pg"] = pg["events"]["per_s"]
    return out


def print_run(n: int, result: dict[str, Any]) -> None:
    print(f"== run {n} (machine busy {result['quiet_before_pct']}% of a core before it) ==")
    for db in ("sqlite", "postgresql"):
        for phase, unit in (("chat", "msg"), ("events", "event")):
            r = result[db][phase]
            extra = f", database backends {r['db_cpu_us']} us/{unit}" if "db_cpu_us" in r else ""
            print(f"  {db:<10} {phase:<6} {r['per_s']:>9,.0f} {unit}s/s  host CPU {r['host_cpu_pct']}% = "
                  f"{r['host_cpu_us']} us/{unit}{extra}  (other processes {r['other_cpu_pct']}% of a core)"
                  + (f"  complete={r['complete']}" if phase == "chat" else f"  statuses {r['statuses']}"))
    for key, value in result["ratios"].items():
        print(f"  {key}: {value}")
    print("  targets: chat_host_cpu_pg_over_sqlite <= 2.0; events_per_s_pg >= 2000")


if __name__ == "__main__":
    sys.exit(main())
