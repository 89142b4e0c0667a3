"""Benchmark of business-event ingestion: the real host next to a bare aiohttp JSON POST endpoint, in one run.

Run with ``.venv/bin/python benchmarks/bench_events.py`` (``--json out.json`` for the numbers, ``--runs 3``).
Not a test: it prints a report. Traffic goes to 127.0.0.1 only; every phase is bounded in count and time and the
whole run stops at ``--max-seconds``.

1. Throughput, bare endpoint (_events_bare.py): ``--concurrency`` clients POST pre-built JSON events, closed loop,
   for ``--duration`` seconds. events/s = 200 answers / seconds.
2. Throughput, full path: the host (a fresh SQLite file, one event source, the shipped rules, no plugins) with 20
   agent sockets and one identified, assigned conversation per customer (``--customers``), so each signed
   ``user.profile_updated`` event is verified, validated, recorded and applied in one transaction, then pushed as
   ``profile_update`` to the agent holding that customer's conversation. Events are signed before the clock starts.
3. Latency at ``--rate`` events/s (open loop) on both: request -> 200 answer, p50/p99.

The server is pinned to core 0, the load generator to the other cores, as in bench_chat.py.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from bench_chat import (
    HERE,
    PY,
    REPO,
    Budget,
    Procs,
    Server,
    create_agents,
    read_json_line,
    start_host,
    summarise_profile,
    wait_quiet,
    write_host_config,
)

SECRET = "whsec_YmVuY2gtZXZlbnRzLXNlY3JldC0wMTIzNDU2Nzg5"
IDENTITY = "bench-identity-secret-0123456789"


def start_bare(procs: Procs, cpus: set[int] | None, budget: Budget, workdir: Path) -> Server:
    log = workdir / f"bare-{time.monotonic_ns()}.log"
    proc = procs.start([PY, str(HERE / "_events_bare.py")], cpus, stdout=subprocess.PIPE, stderr=log.open("wb"))
    return Server("bare", proc, int(read_json_line(proc, budget.cap(15))["port"]), log)


def start_events_host(
    procs: Procs, cpus: set[int] | None, budget: Budget, workdir: Path, env: list[str]
) -> tuple[Server, list[str]]:
    cfg = write_host_config(workdir, "shipped", REPO)
    cfg.write_text(cfg.read_text() + f'\n[events.sources.bench]\nsecrets = ["{SECRET}"]\n')
    tokens = create_agents(cfg, REPO, cpus)
    return start_host(procs, cpus, budget, workdir, cfg, env, REPO), tokens


def load(procs: Procs, cpus: set[int] | None, job: dict[str, Any], budget: Budget, workdir: Path) -> dict[str, Any]:
    log = workdir / f"load-{time.monotonic_ns()}.log"
    proc = procs.start([PY, str(HERE / "_events_load.py"), orjson.dumps(job).decode()], cpus,
                       stdout=subprocess.PIPE, stderr=log.open("wb"))
    try:
        return read_json_line(proc, budget.cap(120))
    except (TimeoutError, RuntimeError) as exc:
        raise RuntimeError(f"load generator failed: {exc}; see {log}:\n{log.read_text()[-3000:]}") from None
    finally:
        Procs.stop(proc, 5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--max-events", type=int, default=150_000, help="count bound of the throughput phase")
    p.add_argument("--max-seconds", type=float, default=300.0)
    p.add_argument("--host-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the host, e.g. KEFU_DATABASE__SQLITE_SYNCHRONOUS=normal")
    p.add_argument("--profile", action="store_true", help="py-spy the host (--nonblocking --gil) under the throughput load")
    args = p.parse_args(argv)
    budget = Budget(args.max_seconds)
    import os

    cores = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = ({cores[0]}, set(cores[1:])) if len(cores) > 1 else (None, None)
    procs = Procs()
    report: dict[str, Any] = {"runs": []}
    uids = [f"bench-user-{n}" for n in range(args.customers)]
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-events-") as tmp:
            for run in range(args.runs):
                result: dict[str, Any] = {}
                for kind in ("bare", "host"):
                    workdir = Path(tmp) / f"{kind}-{run}"
                    workdir.mkdir()
                    wait_quiet(budget, 20)
                    if kind == "bare":
                        server, tokens = start_bare(procs, server_cpus, budget, workdir), []
                    else:
                        server, tokens = start_events_host(procs, server_cpus, budget, workdir, args.host_env)
                    job = {"url": server.url, "server_pid": server.pid, "secret": SECRET, "identity": IDENTITY,
                           "uids": uids, "agent_tokens": tokens, "setup": kind == "host",
                           "throughput": True, "duration": args.duration, "concurrency": args.concurrency,
                           "max_events": args.max_events, "rate": args.rate,
                           "duration_latency": args.latency_seconds}
                    job_t = {**job, "rate": None}
                    job_l = {**job, "throughput": False, "duration": args.latency_seconds}
                    spy = start_profile(procs, server, args, workdir, load_cpus) if kind == "host" else None
                    result[kind] = {**load(procs, load_cpus, job_t, budget, workdir)}
                    if spy is not None:
                        result["profile"] = finish_profile(spy, workdir)
                    result[kind].update(load(procs, load_cpus, job_l, budget, workdir))
                    Procs.stop(server.proc)
                bare, host = result["bare"]["throughput"], result["host"]["throughput"]
                result["ratio"] = round(host["events_per_s"] / bare["events_per_s"], 3)
                report["runs"].append(result)
                print_run(run + 1, result, args)
    finally:
        procs.stop_all()
    if args.json:
        args.json.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


def start_profile(
    procs: Procs, server: Server, args: argparse.Namespace, workdir: Path, cpus: set[int] | None
) -> subprocess.Popen[bytes] | None:
    if not args.profile:
        return None
    import shutil

    pyspy = shutil.which("py-spy", path=str(Path(PY).parent))
    if pyspy is None:
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return None
    return procs.start([pyspy, "record", "--pid", str(server.pid), "--duration", str(int(args.duration) + 3),
                        "--rate", "200", "--format", "raw", "--threads", "--output", str(workdir / "profile.txt"),
                        "--nonblocking", "--gil"], cpus, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish_profile(spy: subprocess.Popen[bytes], workdir: Path) -> dict[str, Any]:
    spy.wait(60)
    raw = workdir / "profile.txt"
    if raw.exists():
        shutil.copy(raw, "/tmp/kefu-events-profile.txt")
    return summarise_profile(raw.read_text()) if raw.exists() else {"error": "py-spy wrote nothing"}


def print_run(n: int, result: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"== run {n} ==")
    for kind in ("bare", "host"):
        t, lat = result[kind]["throughput"], result[kind]["latency"]
        print(f"  {kind:<5} throughput {t['events_per_s']:>9,.0f} events/s  ({t['ok']} ok, statuses {t['statuses']},"
              f" server CPU {t['server_cpu_pct']}%, load CPU {t['load_cpu_pct']}%"
              + (f", profile_update pushes {t['pushes']})" if kind == "host" else ")"))
        q = lat["latency"]
        print(f"  {kind:<5} latency at {lat['rate']:.0f}/s: p50 {q['p50_ms']} ms  p99 {q['p99_ms']} ms  max {q['max_ms']} ms"
              f"  (statuses {lat['statuses']}, server CPU {lat['server_cpu_pct']}%"
              + (f", pushes {lat['pushes']})" if kind == "host" else ")"))
    profile = result.get("profile")
    if profile:
        print("  host profile (GIL samples): self time by area, then top functions")
        for name, n, pct in [*profile.get("self_by_area", []), *profile.get("self_top", [])[:25]]:
            print(f"    {pct:5.1f}%  {n:5d}  {name}")
        print("  inclusive:")
        for name, n, pct in profile.get("inclusive_top", [])[:40]:
            print(f"    {pct:5.1f}%  {n:5d}  {name}")
    print(f"  host / bare throughput: {result['ratio']:.1%}  (target >= 50%);  host p99 at {args.rate:.0f}/s: "
          f"{result['host']['latency']['latency']['p99_ms']} ms (target <= 50 ms)")


if __name__ == "__main__":
    sys.exit(main())
