"""Benchmark of business-event ingestion: the real host next to a bare aiohttp JSON POST endpoint, in one run.

Run with ``.venv/bin/python benchmarks/bench_events.py`` (``--json out.json`` for the numbers, ``--runs 3``).
Not a test: it prints a report. Traffic goes to 127.0.0.1 only; every phase is bounded in count and time and the
whole run stops at ``--max-seconds``.

Both servers run at once, each pinned to core 0 (the idle one costs nothing); one load generator on the other
core sets the host up, then sends throughput windows to them in turn (bare, host, bare, host, ...), so that a
drift in the machine's speed touches both alike, then measures latency on each.

- Bare endpoint (_events_bare.py): parses the JSON body and answers, no middleware, no access log.
- Full path: the host (a fresh SQLite file, one event source, the shipped rules, no plugins) with 20 agent
  sockets and one identified, assigned conversation per customer (``--customers``), so each signed
  ``user.profile_updated`` event is verified, validated, recorded and applied in one transaction, then pushed as
  ``profile_update`` to the agent holding that customer's conversation. Events are signed before the clock starts.
- Throughput window: ``--concurrency`` clients, closed loop, ``--window`` seconds; events/s = 200 answers / s.
  ``--pairs`` bare/host pairs after one warm-up pair; the ratio is host / bare of the medians.
- Latency: ``--rate`` events/s open loop for ``--latency-seconds`` on each: request -> 200 answer, p50/p99.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
    p.add_argument("--window", type=float, default=4.0, help="seconds per throughput window")
    p.add_argument("--pairs", type=int, default=3, help="bare/host window pairs measured (after a warm-up pair)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--latency-seconds", type=float, default=10.0)
    p.add_argument("--max-events", type=int, default=150_000, help="count bound of the host's throughput windows")
    p.add_argument("--max-seconds", type=float, default=300.0)
    p.add_argument("--host-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the host, e.g. KEFU_DATABASE__SQLITE_SYNCHRONOUS=normal")
    p.add_argument("--profile", action="store_true", help="py-spy the host (--nonblocking --gil) during the windows")
    p.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load generator to cores")
    args = p.parse_args(argv)
    budget = Budget(args.max_seconds)
    import os

    cores = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = ({cores[0]}, set(cores[1:])) if len(cores) > 1 and not args.no_pin else (None, None)
    procs = Procs()
    report: dict[str, Any] = {"runs": []}
    uids = [f"bench-user-{n}" for n in range(args.customers)]
    windows = [("bare", 1.0), ("host", 1.0)] + [(kind, args.window) for _ in range(args.pairs) for kind in ("bare", "host")]
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-events-") as tmp:
            for run in range(args.runs):
                workdir = Path(tmp) / f"run-{run}"
                workdir.mkdir()
                wait_quiet(budget, 20)
                bare = start_bare(procs, server_cpus, budget, workdir)
                host, tokens = start_events_host(procs, server_cpus, budget, workdir, args.host_env)
                job = {"urls": {"bare": bare.url, "host": host.url}, "pids": {"bare": bare.pid, "host": host.pid},
                       "secret": SECRET, "identity": IDENTITY, "uids": uids, "agent_tokens": tokens,
                       "windows": windows, "concurrency": args.concurrency, "max_events": args.max_events,
                       "bare_pool": 20_000, "rate": args.rate, "latency_seconds": args.latency_seconds}
                seconds = sum(w for _, w in windows) + 3
                spy = start_profile(procs, host, seconds, args, workdir, load_cpus)
                raw = load(procs, load_cpus, job, budget, workdir)
                result = summarise(raw)
                if spy is not None:
                    result["profile"] = finish_profile(spy, workdir)
                Procs.stop(host.proc)
                Procs.stop(bare.proc)
                report["runs"].append(result)
                print_run(run + 1, result, args)
    finally:
        procs.stop_all()
    ratios = [r["ratio"] for r in report["runs"]]
    report["ratio_median"] = statistics.median(ratios)
    if len(ratios) > 1:
        print(f"== {len(ratios)} runs: host / bare median {report['ratio_median']:.1%} "
              f"(runs: {', '.join(f'{r:.1%}' for r in ratios)})")
    if args.json:
        args.json.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians of the measured windows (the warm-up pair left out), CPU per event, and the ratio."""
    measured = raw["windows"][2:]
    out: dict[str, Any] = {"windows": raw["windows"], "latency": raw["latency"]}
    for kind in ("bare", "host"):
        mine = [w for w in measured if w["kind"] == kind]
        rate = statistics.median(w["events_per_s"] for w in mine)
        cpu = statistics.median(w["server_cpu_pct"] for w in mine)
        out[kind] = {"events_per_s": rate, "server_cpu_pct": cpu, "load_cpu_pct":
                     statistics.median(w["load_cpu_pct"] for w in mine),
                     "server_cpu_us_per_event": round(cpu * 1e4 / rate, 1) if rate else None}
    host = [w for w in measured if w["kind"] == "host"]
    out["host"]["ok"] = sum(w["ok"] for w in host)
    out["host"]["pushes"] = sum(w["pushes"] for w in host)
    out["ratio"] = round(out["host"]["events_per_s"] / out["bare"]["events_per_s"], 3)
    # What each server spends on one event: independent of the generator, which limits the bare figure
    bare_us, host_us = out["bare"]["server_cpu_us_per_event"], out["host"]["server_cpu_us_per_event"]
    out["cpu_ratio"] = round(bare_us / host_us, 3) if bare_us and host_us else None
    return out


def start_profile(
    procs: Procs, server: Server, seconds: float, args: argparse.Namespace, workdir: Path, cpus: set[int] | None
) -> subprocess.Popen[bytes] | None:
    if not args.profile:
        return None
    pyspy = shutil.which("py-spy", path=str(Path(PY).parent))
    if pyspy is None:
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return None
    return procs.start([pyspy, "record", "--pid", str(server.pid), "--duration", str(int(seconds) + 5),
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
    for w in result["windows"]:
        print(f"  window {w['kind']:<4} {w['seconds']:>5.1f} s {w['events_per_s']:>9,.0f} events/s  statuses "
              f"{w['statuses']}  server CPU {w['server_cpu_pct']}%  load CPU {w['load_cpu_pct']}%"
              + (f"  pushes {w['pushes']}" if w["kind"] == "host" else ""))
    for kind in ("bare", "host"):
        t, lat = result[kind], result["latency"][kind]
        print(f"  {kind:<5} throughput {t['events_per_s']:>9,.0f} events/s (median of {args.pairs} windows), server "
              f"CPU {t['server_cpu_pct']}% = {t['server_cpu_us_per_event']} us per event, load CPU {t['load_cpu_pct']}%"
              + (f"; {t['pushes']} profile_update pushes for {t['ok']} events" if kind == "host" else ""))
        q = lat["latency"]
        print(f"  {kind:<5} latency at {lat['rate']:.0f}/s: p50 {q['p50_ms']} ms  p99 {q['p99_ms']} ms  max {q['max_ms']} ms"
              f"  (statuses {lat['statuses']}, server CPU {lat['server_cpu_pct']}%"
              + (f", pushes {lat['pushes']})" if kind == "host" else ")"))
    profile = result.get("profile")
    if profile:
        print("  host profile (GIL samples): self time by area, then top functions")
        for name, count, pct in [*profile.get("self_by_area", []), *profile.get("self_top", [])[:25]]:
            print(f"    {pct:5.1f}%  {count:5d}  {name}")
        print("  inclusive:")
        for name, count, pct in profile.get("inclusive_top", [])[:40]:
            print(f"    {pct:5.1f}%  {count:5d}  {name}")
    print(f"  host / bare throughput: {result['ratio']:.1%}  (target >= 50%);  host p99 at {args.rate:.0f}/s: "
          f"{result['latency']['host']['latency']['p99_ms']} ms (target <= 50 ms);  server CPU per event, bare / "
          f"host: {result['cpu_ratio']:.1%}")


if __name__ == "__main__":
    sys.exit(main())
