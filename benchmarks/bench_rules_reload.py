"""Benchmark: how long the event loop stalls while a large rule set reloads, next to the same loop idle.

Run with ``.venv/bin/python benchmarks/bench_rules_reload.py``. It is not a test: it prints a small report.

A probe task sleeps 5 ms at a time and records how much later than that it wakes: time in which the loop could
not run anything (a socket, ``/livez``, a chat ack). Measured in one process set up as the host runs (rules
loaded at startup, then ``gc.freeze()`` and the host's gc threshold):

1. baseline: the probe alone for ``--baseline`` seconds;
2. for each mode, a ``RulesReloader`` reload from the shipped rules to those plus a generated set
   (``_rules_large.py``: 7,000 rules, 4.9 MB, 71 files) while the probe runs: "thread" builds in a thread
   beside the loop (what every reload did before the worker process), "process" in a worker process (what the
   host does for a set this big).

Reported per phase: the probe's worst pause, its 99th percentile, the time spent in pauses over 50 ms, and the
reload's duration. ``--host-src DIR`` measures another checkout (e.g. an older commit extracted with
``git archive``); a checkout without the worker process has only the thread mode.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TICK = 0.005
HERE = Path(__file__).resolve().parent


async def probe(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        gaps.append(now - last - TICK)
        last = now


def summary(name: str, gaps: list[float], seconds: float, extra: str = "") -> str:
    ordered = sorted(gaps)
    worst = ordered[-1] if ordered else 0.0
    p99 = ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0
    stalled = sum(g for g in gaps if g > 0.05)
    return (
        f"{name:<9} {seconds:6.2f} s   worst pause {worst * 1000:7.1f} ms   p99 {p99 * 1000:6.1f} ms   "
        f"in pauses > 50 ms: {stalled:5.2f} s{extra}"
    )


async def measure(args: argparse.Namespace, modes: list[str]) -> list[dict[str, Any]]:
    from _rules_large import TEAMS, make_large_rules

    from kefu_host.rules import Catalogue, RuleSetHolder, RulesReloader

    large = make_large_rules(args.rules)
    size = sum(map(len, large.values()))
    print(f"large set: {args.rules} rules, {size / 1e6:.1f} MB in {len(large)} files")
    takes_threshold = "process_bytes" in inspect.signature(RulesReloader).parameters
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ["baseline", *modes]:
            if mode == "process" and not takes_threshold:
                print("process   (this checkout has no worker process)")
                continue
            directory = Path(tmp) / mode
            shutil.copytree(args.host_src / "rules", directory)
            options = {}
            if takes_threshold:
                options["process_bytes"] = 0 if mode == "process" else 1 << 62
            holder = RuleSetHolder()
            reloader = RulesReloader(
                holder, directory, Catalogue.core(), TEAMS, watch=False, rescan_interval=0, **options
            )
            startup = await reloader.reload(trigger="startup")
            assert startup.status == "loaded", startup
            startup_rules = holder.current.rules if holder.current else ()
            # the host after startup: everything alive is frozen out of the collector, fewer young collections
            gc.collect()
            gc.freeze()
            gc.set_threshold(20_000, *gc.get_threshold()[1:])
            stop, gaps = asyncio.Event(), []
            task = asyncio.create_task(probe(stop, gaps))
            await asyncio.sleep(0.2)  # the probe runs before the clock starts
            gaps.clear()
            started = time.perf_counter()
            if mode == "baseline":
                await asyncio.sleep(args.baseline)
                extra = ""
            else:
                for rel in list(large):
                    path = directory / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(large[rel])
                outcome = await asyncio.wait_for(reloader.reload(trigger="bench"), args.timeout)
                assert outcome.status == "loaded", outcome.message
                assert holder.current is not None, "not swapped"
                assert len(holder.current.rules) == args.rules + len(startup_rules), "not swapped"
                extra = f"   reload {outcome.status}"
            seconds = time.perf_counter() - started
            stop.set()
            await task
            print(summary(mode, gaps, seconds, extra), flush=True)
            results.append({"mode": mode, "seconds": seconds, "worst": max(gaps), "gaps": gaps})
            holder.current = None
            gc.unfreeze()
            gc.collect()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=7000)
    parser.add_argument("--mode", choices=["thread", "process", "both"], default="both")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of the idle probe")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="most seconds a reload may take")
    parser.add_argument("--host-src", type=Path, default=HERE.parent, help="checkout to measure")
    args = parser.parse_args()
    args.host_src = args.host_src.resolve()
    sys.path[:0] = [str(args.host_src), str(HERE)]
    modes = ["thread", "process"] if args.mode == "both" else [args.mode]
    worst: dict[str, list[float]] = {}
    for run in range(args.runs):
        print(f"run {run + 1} of {args.runs} ({args.host_src})")
        for result in asyncio.run(measure(args, modes)):
            worst.setdefault(result["mode"], []).append(result["worst"])
    base = statistics.median(worst["baseline"])
    for mode, values in worst.items():
        median = statistics.median(values)
        ratio = median / base
        shown = f"{median * 1000:7.1f} ms ({ratio:6.1f}x baseline)"
        print(f"{mode:<9} worst pause, median of {len(values)}: {shown}")


if __name__ == "__main__":
    main()
