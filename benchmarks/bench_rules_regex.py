"""Benchmark: a rule regex on a hostile text, Python's backtracking ``re`` next to RE2 (what rules use).

Run with ``.venv/bin/python benchmarks/bench_rules_regex.py``. It is not a test: it prints a small table.
``(a+)+$`` against ``n`` times ``a`` and a ``!``: ``re`` tries every way to split the run (time doubles with each
``a``), RE2 reads the text once. Bounded: ``re`` is skipped for longer texts once one search took over 2 s.
Also an everyday pattern on a 200-character message, where both are fast and RE2 costs more per call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from kefu_host.rules.regex import compile_regex, search

CATASTROPHIC = "(a+)+$"


def best_of(func: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    python, engine = re.compile(CATASTROPHIC), compile_regex(CATASTROPHIC)
    print(f"pattern {CATASTROPHIC}   text: n times 'a', then '!'")
    print(f"{'n':>4} {'re (s)':>12} {'RE2 (s)':>12} {'re / RE2':>10}")
    too_slow = False
    for n in (12, 16, 18, 20, 22, 24, 1000, 100_000):
        text = "a" * n + "!"
        ours = best_of(lambda: search(engine, text), 5)
        if too_slow:
            print(f"{n:>4} {'(skipped)':>12} {ours:12.6f}")
            continue
        theirs = best_of(lambda: python.search(text), 1 if n >= 20 else 3)
        print(f"{n:>4} {theirs:12.6f} {ours:12.6f} {theirs / ours:10.0f}x")
        too_slow = theirs > 2.0
    everyday = r"order[- ]?007\d+"
    message = "你好请问我的订单什么时候发货已经等了三天了 hello I would like to know when my order will ship " * 2
    python, engine = re.compile(everyday), compile_regex(everyday)
    calls = 20_000
    theirs = best_of(lambda: [python.search(message) for _ in range(calls)], 3) / calls
    ours = best_of(lambda: [search(engine, message) for _ in range(calls)], 3) / calls
    print(f"\n{everyday} on a {len(message)}-character message: re {theirs * 1e6:.2f} us, RE2 {ours * 1e6:.2f} us")


if __name__ == "__main__":
    main()
