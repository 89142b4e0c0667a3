"""Benchmark of several nodes: chat throughput and CPU per message of one node against two nodes on the same
PostgreSQL database and Redis, in one run.

Run with ``.venv/bin/python benchmarks/bench_cluster.py --pg-url postgresql+asyncpg://USER@127.0.0.1/DB
--redis-url redis://127.0.0.1:6379/14`` (the database's ``public`` schema is dropped and recreated for every phase;
or set KEFU_BENCH_POSTGRES_URL and KEFU_BENCH_REDIS_URL). ``--json out.json`` for the numbers, ``--runs 3`` to
repeat. Not a test: it prints a report. Traffic goes to 127.0.0.1 only; every phase is bounded in count and time
and the whole run stops at ``--max-seconds``.

Every phase runs the throughput phase of bench_chat.py (``_chat_load.py``: 20 agents, 100 visitors, ``--window``
messages in flight per visitor, ``--warm`` s of warm-up then ``--duration`` s measured; every message stored,
routed, pushed to its agent and acked) against hosts in cluster mode (``[cluster] redis_url``):

- **one**: one node; the agents and the visitors all on it.
- **two, round robin**: two nodes; agents and visitors alternate between them, as a load balancer without
  stickiness spreads them, so about half of the messages are stored on one node and pushed from the other.
- **two, crossed**: two nodes; every agent on the first, every visitor on the second: each message crosses.

The hosts are pinned to the first core (one core for one node, the same core shared by two), the load generator to
the others; PostgreSQL and Redis run where the scheduler puts them. Reported: messages/s, the hosts' CPU
(utime + stime, all nodes summed) per message, the CPU of the database backends serving them and of the Redis
server per message, and the ratios two nodes / one node. On a machine with a core per node the hosts' CPU per
message is the figure that carries over (what crossing nodes costs); throughput here cannot grow with the second
node, which shares the first one's core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _chat_load import proc_cpu_seconds
from bench_chat import (
    N_AGENTS,
    N_VISITORS,
    REPO,
    Budget,
    Procs,
    Server,
    create_agents,
    run_chat_load,
    start_host,
    wait_quiet,
    write_host_config,
)
from bench_store import BackendCpu, host_and_load_cores, report_runs, reset_pg

LAYOUTS = {"one": 1, "two_round_robin": 2, "two_crossed": 2}


def redis_pid(url: str) -> int | None:
    """The pid of the Redis server at ``url``, when it runs on this machine (INFO's process_id)."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}").exists() else None


def node_config(workdir: Path, pg_url: str, redis_url: str, node: str, src: Path) -> Path:
    cfg = write_host_config(workdir, "shipped", src)
    text = cfg.read_text().replace(f'url = "sqlite+aiosqlite:///{workdir}/kefu.db"', f'url = "{pg_url}"')
    cfg.write_text(text + f'\n[cluster]\nredis_url = "{redis_url}"\nnode_id = "{node}"\n')
    return cfg


def layout_phase(procs: Procs, cpus: tuple[set[int] | None, set[int] | None], budget: Budget, root: Path,
                 layout: str, args: argparse.Namespace) -> dict[str, Any]:
    reset_pg(args.pg_url)
    servers: list[Server] = []
    tokens: list[str] = []
    try:
        for n in range(LAYOUTS[layout]):
            workdir = root / layout / f"node-{n + 1}"
            workdir.mkdir(parents=True)
            cfg = node_config(workdir, args.pg_url, args.redis_url, f"bench-{n + 1}", args.host_src)
            if n == 0:
                tokens = create_agents(cfg, args.host_src, cpus[0])
            servers.append(start_host(procs, cpus[0], budget, workdir, cfg, args.host_env, args.host_src))
        urls = [s.url for s in servers]
        agent_urls, visitor_urls = (urls[:1], urls[1:]) if layout == "two_crossed" else (urls, urls)
        backends = BackendCpu(args.pg_url)
        redis = RedisCpu(args.redis_url)

        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "measure_start":
                backends.start()
                redis.start()

        job = {"mode": "host", "url": urls[0], "agent_urls": agent_urls, "visitor_urls": visitor_urls,
               "server_pid": [s.pid for s in servers], "agent_tokens": tokens, "agents": N_AGENTS,
               "visitors": N_VISITORS, "latency": None, "deadline": budget.deadline(90), "emit_events": True,
               "throughput": {"duration": args.duration, "warm_seconds": args.warm,
                              "max_per_visitor": args.max_per_visitor, "window": args.window}}
        result = run_chat_load(procs, cpus[1], job, root / layout, on_event)
        backends.stop()
        redis_seconds = redis.stop()
    finally:
        for server in servers:
            Procs.stop(server.proc)
    t = result["throughput"]
    acks = t["acks"]
    out: dict[str, Any] = {
        "nodes": len(servers), "per_s": t["msgs_per_s"], "items": acks, "complete": t["complete"],
        "errors": t["errors"], "host_cpu_pct": t["server_cpu_pct"], "other_cpu_pct": t["other_cpu_pct"],
        "host_cpu_us": round(t["server_cpu_pct"] * 1e4 / t["msgs_per_s"], 1) if t["msgs_per_s"] else None,
    }
    if backends.seconds is not None and acks:
        out["db_cpu_us"] = round(backends.seconds * 1e6 / acks, 1)
    if redis_seconds is not None and acks:
        out["redis_cpu_us"] = round(redis_seconds * 1e6 / acks, 1)
    return out


class RedisCpu:
    """CPU seconds the Redis server used between :meth:`start` and :meth:`stop` (None when it is not local)."""

    def __init__(self, url: str) -> None:
        self.pid = redis_pid(url)
        self.before = 0.0

    def start(self) -> None:
        if self.pid is not None:
            self.before = proc_cpu_seconds(self.pid)

    def stop(self) -> float | None:
        return None if self.pid is None else round(proc_cpu_seconds(self.pid) - self.before, 3)


def ratios(result: dict[str, Any]) -> dict[str, float]:
    one = result.get("one")
    out: dict[str, float] = {}
    for layout in ("two_round_robin", "two_crossed"):
        two = result.get(layout)
        if one is None or two is None:
            continue
        if one["per_s"]:
            out[f"{layout}_per_s_over_one"] = round(two["per_s"] / one["per_s"], 2)
        if one["host_cpu_us"] and two["host_cpu_us"]:
            out[f"{layout}_host_cpu_per_msg_over_one"] = round(two["host_cpu_us"] / one["host_cpu_us"], 2)
    return out


def print_run(n: int, result: dict[str, Any]) -> None:
    print(f"== run {n} (machine busy {result['quiet_before_pct']}% of a core before it) ==")
    for layout in (name for name in LAYOUTS if name in result):
        r = result[layout]
        extra = "".join(f", {name} {r[key]} us/msg" for key, name in (("db_cpu_us", "database backends"),
                                                                       ("redis_cpu_us", "redis")) if key in r)
        print(f"  {layout:<16} {r['nodes']} node(s) {r['per_s']:>9,.0f} msgs/s  hosts' CPU {r['host_cpu_pct']}% = "
              f"{r['host_cpu_us']} us/msg{extra}  (other processes {r['other_cpu_pct']}% of a core)  "
              f"complete={r['complete']} errors={r['errors']}")
    for key, value in result["ratios"].items():
        print(f"  {key}: {value}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg-url", default=os.environ.get("KEFU_BENCH_POSTGRES_URL"),
                   help="postgresql+asyncpg://... (its public schema is dropped); or KEFU_BENCH_POSTGRES_URL")
    p.add_argument("--redis-url", default=os.environ.get("KEFU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                   help="the nodes' cluster.redis_url; or KEFU_BENCH_REDIS_URL")
    p.add_argument("--json", type=Path)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--duration", type=float, default=6.0, help="measured seconds of each phase")
    p.add_argument("--warm", type=float, default=2.0)
    p.add_argument("--window", type=int, default=8, help="chat messages in flight per visitor")
    p.add_argument("--max-per-visitor", type=int, default=20000)
    p.add_argument("--max-seconds", type=float, default=480.0)
    p.add_argument("--layouts", default=",".join(LAYOUTS),
                   help=f"comma-separated, of {', '.join(LAYOUTS)} (ratios need 'one')")
    p.add_argument("--host-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--host-src", type=Path, default=REPO,
                   help="a directory holding kefu_host/ and rules/ to run instead of this checkout")
    args = p.parse_args(argv)
    if not args.pg_url:
        p.error("--pg-url (or KEFU_BENCH_POSTGRES_URL) is required")
    layouts = [name for name in args.layouts.split(",") if name]
    if unknown := [name for name in layouts if name not in LAYOUTS]:
        p.error(f"--layouts: unknown {', '.join(unknown)}; choose from {', '.join(LAYOUTS)}")
    budget = Budget(args.max_seconds)
    cpus = host_and_load_cores(args.no_pin)
    procs = Procs()
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-cluster-") as tmp:
            for run in range(args.runs):
                result: dict[str, Any] = {"quiet_before_pct": wait_quiet(budget, 20)}
                for layout in layouts:
                    result[layout] = layout_phase(procs, cpus, budget, Path(tmp) / f"run-{run}", layout, args)
                result["ratios"] = ratios(result)
                runs.append(result)
                print_run(run + 1, result)
    except subprocess.SubprocessError as exc:
        print(f"bench_cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    report_runs(runs, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
