"""What metrics and tracing cost on the chat path: the same host with each turned on or off, in the same run.

Run with ``.venv/bin/python benchmarks/bench_telemetry.py`` (``--reps 5`` interleaved repetitions by default,
``--json out.json`` for the numbers). It is not a test: it prints a report. All traffic goes to 127.0.0.1; every
phase is bounded in count and time and the whole run is cut at ``--max-seconds`` (default 900).

Variants (each a host process of its own, started once, all pinned to core 0; the load generator, the OTLP sink
and this process on core 1), set through the environment of the shipped configuration keys:

- ``off``: ``metrics.enabled = false``, tracing off: the baseline.
- ``metrics``: metrics on (the default), tracing off.
- ``tracing``: metrics off, ``tracing.enabled = true`` with ``tracing.sample_ratio = 0.01``, exporting over
  OTLP/HTTP to ``_otlp_sink.py`` (a loopback collector stand-in that answers 200).
- ``both``: metrics on and tracing at 1%.

Each repetition loads every variant once, in a rotated order (so no variant always runs first or last), with the
full-path throughput phase of bench_chat.py: 20 agent sockets, 100 visitors whose conversations are opened and
assigned first, ``--window`` messages in flight per visitor, ``--warm`` then ``--duration`` seconds measured;
messages/s = acks / seconds, and every message must reach its agent (``complete``). The report gives, per variant,
the median over the repetitions of throughput and of the host's CPU time per message, and the ratio of each to
``off`` within the same repetition (the median of those ratios). Targets: metrics on costs at most 5% of the
throughput, tracing at 1% at most 10%. A window during which other processes used more than ``--max-other`` % of
a core is flagged: the report gives the medians over all complete windows and over the clean ones (this machine
is shared, and when others keep it busy no window is clean).

Beside the end-to-end windows, ``--micro`` (default 200,000) iterations in this process replay exactly the calls
one visitor message makes into metrics and tracing on that path (the frame span, the store span, the decision span,
the stored and delivered counters, the decision and rule counters, one group-commit observation), with each variant's
objects, and report the CPU time they add per message (``time.process_time``: what the machine's other load does
not change much). Divided by the host's CPU time per message (from the ``off`` windows), that is the share of the
host's work they are; on a busy machine it is the steadier of the two estimates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_chat as chat  # noqa: E402 (the chat benchmark's servers, load generator and checks)

VARIANTS: dict[str, list[str]] = {
    "off": ["KEFU_METRICS__ENABLED=false"],
    "metrics": [],
    "tracing": ["KEFU_METRICS__ENABLED=false", "KEFU_TRACING__ENABLED=true", "KEFU_TRACING__SAMPLE_RATIO=0.01"],
    "both": ["KEFU_TRACING__ENABLED=true", "KEFU_TRACING__SAMPLE_RATIO=0.01"],
}
TARGETS = {"metrics": 0.05, "tracing": 0.10, "both": 0.15}


def micro(iterations: int) -> dict[str, float]:
    """CPU microseconds the telemetry calls of one visitor message take, per variant (see the module's doc)."""
    import time
    from datetime import UTC, datetime

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    from kefu_host.metrics import Metrics, MetricsOff
    from kefu_host.tracing import TRACING_OFF, Tracing

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    def traced() -> Tracing:  # as kefu_host.tracing.new_tracing builds it, exporting to nowhere
        provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
        provider.add_span_processor(BatchSpanProcessor(Discard()))
        return Tracing(provider, 0.01)

    queued_at = datetime.now(UTC)
    fired = ("notice.after_hours", "default.general")

    def calls(metrics: MetricsOff, tracing: Tracing) -> Any:
        delivered = metrics.sockets("agent").delivered

        def one() -> None:
            with tracing.span("ws visitor send"):
                span = tracing.start_child("store append_messages")
                if span is not None:
                    span.end()
                metrics.store_batch(20, 0.002)
                metrics.message_stored("visitor", "text", 7, queued_at)
                delivered.inc()
                with tracing.child("rules decide", {"kefu.trigger": "message", "kefu.revision": "r"}):
                    pass
                metrics.decided("message", fired)

        return one

    variants = {"off": calls(MetricsOff(), TRACING_OFF), "metrics": calls(Metrics(), TRACING_OFF),
                "tracing": calls(MetricsOff(), traced()), "both": calls(Metrics(), traced())}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    rounds = 7
    for _ in range(rounds):  # interleaved rounds, the median of each: the machine's load drifts
        for name, one in variants.items():
            for _ in range(1000):
                one()
            start = time.process_time()
            for _ in range(iterations // rounds):
                one()
            samples[name].append(1e6 * (time.process_time() - start) / (iterations // rounds))
    per = {name: statistics.median(values) for name, values in samples.items()}
    return {name: round(us - per["off"], 3) for name, us in per.items()} | {"loop_us": round(per["off"], 3)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per window (default 5)")
    p.add_argument("--warm", type=float, default=2.0, help="seconds of warm-up before each (default 2)")
    p.add_argument("--window", type=int, default=8, help="messages in flight per visitor (default 8)")
    p.add_argument("--max-per-visitor", type=int, default=20000, help="count bound per visitor and window")
    p.add_argument("--variants", default=",".join(VARIANTS), help="which variants (default all)")
    p.add_argument("--rules", choices=("shipped", "empty"), default="shipped")
    p.add_argument("--max-other", type=float, default=25.0, help="contamination limit, %% of a core (default 25)")
    p.add_argument("--quiet-wait", type=float, default=10.0, help="wait up to this for an idle machine (default 10)")
    p.add_argument("--max-seconds", type=float, default=900.0, help="hard cap of the whole run (default 900)")
    p.add_argument("--micro", type=int, default=200_000, help="in-process iterations of the per-message calls")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    budget = chat.Budget(args.max_seconds)
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else (None, None)
    if load_cpus:
        os.sched_setaffinity(0, load_cpus)
    # each repetition opens 100 more conversations on every host and they stay assigned: room for all of them
    chat.AGENT_CAPACITY = 100 * (args.reps + 1) // chat.N_AGENTS + 1
    root = Path(tempfile.mkdtemp(prefix="kefu-bench-telemetry-"))
    procs = chat.Procs()
    # the chat benchmark's options, as its phases read them
    host_args = argparse.Namespace(rules=args.rules, src=chat.REPO, host_env=[], duration=args.duration,
                                   warm=args.warm, window=args.window, max_per_visitor=args.max_per_visitor,
                                   rate=0.0, latency_seconds=0.0)
    report: dict[str, Any] = {"command": " ".join(sys.argv), "git": chat.git_state(), "settings":
                              {k: str(v) for k, v in vars(args).items()}, "windows": [], "notes": []}
    if args.micro:
        report["micro_us_per_msg"] = micro(args.micro)
        print(f"telemetry calls per message, CPU us added: {report['micro_us_per_msg']}", flush=True)
    try:
        sink = procs.start([chat.PY, str(chat.HERE / "_otlp_sink.py")], load_cpus, stdout=subprocess.PIPE)
        sink_port = int(chat.read_json_line(sink, budget.cap(20))["port"])
        hosts: dict[str, tuple[Any, list[str]]] = {}
        for name in names:
            env = [*VARIANTS[name], f"KEFU_TRACING__ENDPOINT=http://127.0.0.1:{sink_port}/v1/traces"]
            host_args.host_env = env
            server, tokens, _ = chat.new_host(procs, server_cpus, budget, root, f"host-{name}", host_args)
            hosts[name] = (server, tokens)
        for rep, name in [(r, n) for r in range(args.reps) for n in names[r % len(names):] + names[:r % len(names)]]:
            if budget.left() < 45:
                report["notes"].append(f"stopped before rep {rep + 1} {name}: the time cap is near")
                break
            report["windows"].append(measure(procs, hosts[name], name, rep, host_args, args, budget,
                                              load_cpus, root))
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"http://127.0.0.1:{sink_port}/stats", timeout=5) as answer:
                report["otlp_sink"] = orjson.loads(answer.read())
    finally:
        procs.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    report["summary"] = summarise(report["windows"], names)
    print_report(report)
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0


def measure(procs: chat.Procs, host: tuple[Any, list[str]], name: str, rep: int, host_args: argparse.Namespace,
            args: argparse.Namespace, budget: chat.Budget, load_cpus: set[int] | None, root: Path) -> dict[str, Any]:
    """One throughput window on one variant's host."""
    server, tokens = host
    busy = chat.wait_quiet(budget, args.quiet_wait)
    job = chat.chat_job(server, tokens, host_args, budget, latency=False)
    try:
        result = chat.run_chat_load(procs, load_cpus, job, root)
    except Exception as exc:  # noqa: BLE001 (a failed window is reported, the others still run)
        result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    t = result.get("throughput", {})
    window = {"rep": rep + 1, "variant": name, "machine_busy_before_pct": busy, "msgs_per_s": t.get("msgs_per_s"),
              "complete": t.get("complete"), "server_cpu_pct": t.get("server_cpu_pct"),
              "other_cpu_pct": t.get("other_cpu_pct"), "load_cpu_pct": t.get("load_cpu_pct"),
              "error": result.get("error"), "open": result.get("open")}
    if t.get("msgs_per_s"):
        window["cpu_us_per_msg"] = round(1e6 * t["server_cpu_pct"] / 100 / t["msgs_per_s"], 1)
    window["contaminated"] = chat.contaminated(t, args.max_other)
    print(f"rep {rep + 1} {name:8} {t.get('msgs_per_s')} msg/s  cpu/msg {window.get('cpu_us_per_msg')} us  "
          f"complete={t.get('complete')}  other={t.get('other_cpu_pct')}%", flush=True)
    return window


def summarise(windows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Medians per variant, over every complete window ("all") and over the uncontaminated ones ("clean")."""
    complete = [w for w in windows if w.get("msgs_per_s") and w.get("complete")]
    return {"all": _medians(complete, names), "clean": _medians([w for w in complete if not w["contaminated"]], names)}


def _medians(good: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    by = {(w["rep"], w["variant"]): w for w in good}
    out: dict[str, Any] = {}
    for name in names:
        mine = [w for w in good if w["variant"] == name]
        paired = [(w, by[(w["rep"], "off")]) for w in mine if (w["rep"], "off") in by]
        ratios = [w["msgs_per_s"] / base["msgs_per_s"] for w, base in paired]
        cpu = [w["cpu_us_per_msg"] / base["cpu_us_per_msg"] for w, base in paired]
        out[name] = {
            "windows": len(mine),
            "msgs_per_s_median": statistics.median([w["msgs_per_s"] for w in mine]) if mine else None,
            "cpu_us_per_msg_median": statistics.median([w["cpu_us_per_msg"] for w in mine]) if mine else None,
            "throughput_vs_off_median": round(statistics.median(ratios), 4) if ratios else None,
            "throughput_vs_off": [round(r, 4) for r in ratios],
            "cpu_per_msg_vs_off_median": round(statistics.median(cpu), 4) if cpu else None,
        }
    off = out.get("off", {})
    for s in out.values():  # unpaired: the medians of all windows, when too few repetitions pair up
        both = s["msgs_per_s_median"] and off.get("msgs_per_s_median")
        s["throughput_medians_ratio"] = round(s["msgs_per_s_median"] / off["msgs_per_s_median"], 4) if both else None
        both = s["cpu_us_per_msg_median"] and off.get("cpu_us_per_msg_median")
        s["cpu_medians_ratio"] = round(s["cpu_us_per_msg_median"] / off["cpu_us_per_msg_median"], 4) if both else None
    return out


def print_report(report: dict[str, Any]) -> None:
    print(f"\n== metrics and tracing on the chat path ({report['git']}) ==")
    for w in report["windows"]:
        if not w.get("complete"):
            print(f"  incomplete: rep {w['rep']} {w['variant']}: {w.get('error')}")
    contaminated = sum(1 for w in report["windows"] if w["contaminated"])
    print(f"  {contaminated} of {len(report['windows'])} windows had other processes above the contamination limit")
    for which, summary in report["summary"].items():
        print(f"  -- {which} windows --")
        for name, s in summary.items():
            ratio = s["throughput_vs_off_median"]
            target = TARGETS.get(name)
            verdict = ""
            if ratio is not None and target is not None:
                verdict = (f"  cost {100 * (1 - ratio):.1f}% (target <= {100 * target:.0f}%: "
                           f"{'HOLDS' if 1 - ratio <= target else 'MISSED'})")
            print(f"  {name:8} {s['windows']} windows: median {s['msgs_per_s_median']} msg/s, "
                  f"{s['cpu_us_per_msg_median']} us CPU/msg; paired with off: throughput {ratio} "
                  f"{s['throughput_vs_off']}, CPU/msg {s['cpu_per_msg_vs_off_median']}{verdict}; medians: "
                  f"throughput {s['throughput_medians_ratio']}, CPU/msg {s['cpu_medians_ratio']}")
    if "otlp_sink" in report:
        print(f"  OTLP sink received {report['otlp_sink']}")
    added, off = report.get("micro_us_per_msg"), report["summary"]["all"].get("off", {}).get("cpu_us_per_msg_median")
    if added and off:
        print(f"  -- the per-message calls in-process, against the host's {off} us CPU per message (off) --")
        for name in ("metrics", "tracing", "both"):
            print(f"  {name:8} +{added[name]} us = {100 * added[name] / off:.2f}% of the host's work per message")
    for note in report["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    sys.exit(main())
