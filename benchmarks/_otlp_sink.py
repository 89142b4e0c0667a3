"""An OTLP/HTTP collector stand-in for bench_telemetry.py: answers every trace export 200 and counts the bytes.

    python benchmarks/_otlp_sink.py     # prints {"port": N} once listening, then serves until killed
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web


async def main() -> None:
    received = {"requests": 0, "bytes": 0}

    async def traces(request: web.Request) -> web.Response:
        received["requests"] += 1
        received["bytes"] += len(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(received)

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sys.stdout.write(orjson.dumps({"port": port}).decode() + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
