"""The bare relay the chat benchmark compares the host with (see bench_chat.py). Run in its own process:

    python benchmarks/_chat_relay.py [--agents 20]

It listens on 127.0.0.1 on a free port, prints ``{"port": N, "pid": P}`` on one stdout line, and serves until
SIGTERM/SIGINT:

* ``GET /agent?i=K``: agent socket K (0 <= K < agents); it receives the frames the relay forwards.
* ``GET /visitor?i=N``: visitor socket N; it gets ``{"type": "welcome"}`` first. Every text frame it sends is
  parsed as JSON, forwarded as a ``message`` frame to agent ``N % agents`` and answered with an ``ack``.

This is the least a relay with the same wire format can do: parse, two serialisations, two sends. No storage,
no sequence numbers per conversation beyond a counter, no queues, no heartbeat, no logging.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys

import orjson
from aiohttp import WSMsgType, web

WELCOME = '{"type":"welcome"}'


def build_app(n_agents: int) -> web.Application:
    agents: dict[int, web.WebSocketResponse] = {}
    ids = itertools.count(1)

    async def agent_socket(request: web.Request) -> web.WebSocketResponse:
        index = int(request.query["i"])
        ws = web.WebSocketResponse(max_msg_size=16384)
        await ws.prepare(request)
        agents[index] = ws
        await ws.send_str(WELCOME)
        try:
            async for _ in ws:
                pass
        finally:
            if agents.get(index) is ws:
                del agents[index]
        return ws

    async def visitor_socket(request: web.Request) -> web.WebSocketResponse:
        index = int(request.query["i"])
        target = index % n_agents
        ws = web.WebSocketResponse(max_msg_size=16384)
        await ws.prepare(request)
        await ws.send_str(WELCOME)
        seq = 0
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = orjson.loads(msg.data)
            seq += 1
            msg_id = next(ids)
            cmid = data.get("client_msg_id")
            out = {
                "type": "message",
                "conversation_id": index,
                "seq": seq,
                "id": msg_id,
                "sender": "visitor",
                "client_msg_id": cmid,
                "body": data.get("body"),
            }
            agent = agents.get(target)
            if agent is not None and not agent.closed:
                await agent.send_str(orjson.dumps(out).decode())
            await ws.send_str(
                orjson.dumps(
                    {
                        "type": "ack",
                        "client_msg_id": cmid,
                        "conversation_id": index,
                        "id": msg_id,
                        "seq": seq,
                        "duplicate": False,
                    }
                ).decode()
            )
        return ws

    app = web.Application()
    app.router.add_get("/agent", agent_socket)
    app.router.add_get("/visitor", visitor_socket)
    return app


async def serve(n_agents: int) -> None:
    runner = web.AppRunner(build_app(n_agents), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(orjson.dumps({"port": port, "pid": os.getpid()}).decode(), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await asyncio.wait_for(runner.cleanup(), 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    if not args.no_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(args.agents))
    sys.exit(0)


if __name__ == "__main__":
    main()
