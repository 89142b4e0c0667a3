"""Benchmark of console sign-in: what a password check costs, and what the session cookie costs per request next to
an agent token.

Run with ``.venv/bin/python benchmarks/bench_login.py``. It is not a test: it prints a small report (about 30 s).

Measured, in one process, on a fresh SQLite file in a temporary directory:
- ``verify_password`` (scrypt at the host's parameters) per call, one at a time, median of ``--checks``;
  ``hash_secret`` + compare (the kfa_ token check) as the baseline;
- sign-ins per second over HTTP with ``--parallel`` clients at once (the host checks at most two passwords at a
  time, in threads);
- ``GET /api/agent/me`` one request at a time, ``--requests`` each: signed by the session cookie, signed by a
  ``kfa_`` token (the baseline), and ``/livez`` (no authentication, the floor). Median and p99 in ms, and the
  cookie's median as a ratio to the token's.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from kefu_host.app import RUNNER_OPTIONS, create_app
from kefu_host.chat.accounts import add_agent
from kefu_host.chat.passwords import hash_password, verify_password
from kefu_host.chat.tokens import hash_secret
from kefu_host.config import load_config
from kefu_host.keys import STORE

PASSWORD = "a password of some length"


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def http_phase(directory: Path, requests: int, parallel: int) -> None:
    (directory / "rules").mkdir()
    config_path = directory / "kefu.toml"
    config_path.write_text(textwrap.dedent(f"""
        [server]
        log_level = "warning"
        [database]
        url = "sqlite+aiosqlite:///{directory}/kefu.db"
        [secrets]
        visitor_token = "bench-visitor-secret-0123456789"
        identity = "bench-identity"
        admin_token = "bench-admin"
        [auth]
        max_failures = 1000000
    """))
    app = create_app(load_config(config_path, environ={}), entry_points=False)
    server = TestServer(app)
    await server.start_server(**RUNNER_OPTIONS)
    base = f"http://127.0.0.1:{server.port}"
    token = await add_agent(app[STORE], "alice", ["support"], 3, password_hash=hash_password(PASSWORD))
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async def sign_in() -> None:
                async with session.post(f"{base}/api/agent/login", json={"name": "alice", "password": PASSWORD}) as r:
                    assert r.status == 200, await r.text()

            start = time.perf_counter()
            rounds = 4
            for _ in range(rounds):
                await asyncio.gather(*(sign_in() for _ in range(parallel)))
            seconds = time.perf_counter() - start
            print(f"sign-ins: {rounds * parallel} in {seconds:.2f} s with {parallel} at once "
                  f"= {rounds * parallel / seconds:.1f}/s")

            async def series(path: str, headers: dict[str, str], cookies: bool) -> list[float]:
                times = []
                jar = session if cookies else bare
                for _ in range(requests):
                    start = time.perf_counter()
                    async with jar.get(f"{base}{path}", headers=headers) as r:
                        await r.read()
                        assert r.status == 200
                    times.append((time.perf_counter() - start) * 1000)
                return times

            async with aiohttp.ClientSession() as bare:
                for _ in range(2):  # warm up, then measure
                    results = {
                        "/livez (no auth)": await series("/livez", {}, False),
                        "me by kfa_ token": await series("/api/agent/me", {"Authorization": f"Bearer {token}"}, False),
                        "me by session cookie": await series("/api/agent/me", {}, True),
                    }
            for name, values in results.items():
                print(f"{name:<22} median {statistics.median(values):6.2f} ms  p99 {pct(values, 0.99):6.2f} ms")
            ratio = statistics.median(results["me by session cookie"]) / statistics.median(results["me by kfa_ token"])
            print(f"cookie / token (median): {ratio:.2f}")
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=10)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()

    stored = hash_password(PASSWORD)
    scrypt = timed(lambda: verify_password(PASSWORD, stored), args.checks)
    token_hash = hash_secret("s" * 32)
    fast = timed(lambda: hmac.compare_digest(hash_secret("s" * 32).encode(), token_hash.encode()), 1000)
    print(f"password check (scrypt {stored.split('$')[1]}): median {statistics.median(scrypt):.1f} ms, "
          f"max {max(scrypt):.1f} ms")
    print(f"agent token check (sha256): median {statistics.median(fast) * 1000:.1f} us")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(http_phase(Path(tmp), args.requests, args.parallel))


if __name__ == "__main__":
    main()
