"""The bare baseline for bench_events.py: an aiohttp JSON POST endpoint that parses the body and answers.

Prints ``{"port": N}`` on stdout once listening.
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web


async def post_event(request: web.Request) -> web.Response:
    event = orjson.loads(await request.read())
    return web.Response(body=orjson.dumps({"id": event["id"], "status": "accepted"}), content_type="application/json")


async def main() -> None:
    app = web.Application()
    app.router.add_post("/api/events", post_event)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(orjson.dumps({"port": runner.addresses[0][1]}).decode(), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
    sys.exit(0)
