"""Three real host processes on one PostgreSQL database and a private Redis, behind HAProxy (round robin, no
stickiness), with clients that reach them only through it.

The Redis is a ``redis-server`` of the test's own on a free port (it is stopped and started again by a test), so the
shared one is never touched; the tests still need KEFU_TEST_REDIS_URL (and KEFU_TEST_POSTGRES_URL) to run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from kefu_host.chat.accounts import add_agent, ensure_teams
from kefu_host.chat.tokens import identity_hash
from kefu_host.store import open_store
from kefu_host.testing.clients import AgentClient, VisitorClient
from kefu_host.testing.events import envelope, signed
from kefu_host.testing.process import HostProcess
from tests.conftest import IN_CI, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
EVENT_SECRET = "cluster-shop-secret"
IDENTITY = "test-identity-secret"


async def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"nothing listens on {port}") from None
            await asyncio.sleep(0.05)


class PrivateRedis:
    """A redis-server of this test's own, which it may stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class WebhookSink:
    """A loopback endpoint that keeps every delivery it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def take(request: web.Request) -> web.Response:
            self.received.append(orjson.loads(await request.read()))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", take)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def closed(self) -> Counter[int]:
        """conversation.closed deliveries per conversation id (a retried delivery has the same id: counted once)."""
        seen = {d["id"]: d for d in self.received if d.get("type") == "conversation.closed"}
        return Counter(d["data"]["conversation"]["id"] for d in seen.values())

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Cluster:
    def __init__(self, workdir: Path, config: Path, redis: PrivateRedis, env: dict[str, str]) -> None:
        self.workdir, self.config, self.redis, self.env = workdir, config, redis, env
        self.nodes: dict[str, HostProcess] = {}
        self.ports: dict[str, int] = {}
        self.lb_port = free_port()
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def lb(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    async def start(self, names: tuple[str, ...] = ("n1", "n2", "n3")) -> None:
        for name in names:
            self.nodes[name] = HostProcess(self.config, env={**self.env, "KEFU_CLUSTER__NODE_ID": name})
        for name, node in self.nodes.items():
            self.ports[name] = await asyncio.to_thread(node.wait_listening, 60.0)
        servers = "\n".join(f"  server {n} 127.0.0.1:{p} check" for n, p in self.ports.items())
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(textwrap.dedent("""\
            global
              maxconn 4000
            defaults
              mode http
              timeout connect 2s
              timeout client 120s
              timeout server 120s
              timeout tunnel 1h
              retries 3
              option redispatch
            frontend kefu
              bind 127.0.0.1:{port}
              default_backend nodes
            backend nodes
              balance roundrobin
              option httpchk GET /readyz
              default-server inter 300ms fall 2 rise 2
            """).format(port=self.lb_port) + servers + "\n")
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        await wait_port(self.lb_port)
        # every request a connection of its own: round robin spreads requests and sockets over the nodes
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    def kill(self, name: str) -> None:
        os.kill(self.nodes[name].proc.pid, signal.SIGKILL)
        self.nodes[name].wait(15)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        for node in self.nodes.values():
            if node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes.values():
            try:
                await node.exited(20)
            except subprocess.TimeoutExpired:
                node.kill()
        if self.haproxy is not None:
            self.haproxy.kill()
            self.haproxy.wait(10)

    # --- clients, all through the load balancer ---------------------------------------------------------------

    async def visitor(self, uid: str, last_seq: int | None = None) -> tuple[VisitorClient, str]:
        """A visitor identified as ``uid`` (so events can name it); returns the client and the node it landed on."""
        assert self.http is not None
        body = {"user_id": uid, "user_hash": identity_hash(IDENTITY, uid)}
        for _ in range(20):  # a dead node answers nothing until HAProxy's check marks it down
            try:
                async with self.http.post(f"{self.lb}/api/visitor/sessions", json=body) as response:
                    assert response.status == 201, await response.text()
                    token = (await response.json())["token"]
                query = f"token={token}" + (f"&last_seq={last_seq}" if last_seq is not None else "")
                ws = await self.http.ws_connect(f"{self.lb}/ws/visitor?{query}")
                break
            except (aiohttp.ClientError, AssertionError):
                await asyncio.sleep(0.2)
        else:
            raise AssertionError("no node took the visitor")
        client = VisitorClient(ws)
        await client.expect("welcome")
        return client, ws._response.headers["X-Kefu-Node"]

    async def agent(self, token: str, resume: dict[int, int] | None = None) -> tuple[AgentClient, str]:
        assert self.http is not None
        query = "presence=online" + ("&resume=" + ",".join(f"{c}:{s}" for c, s in resume.items()) if resume else "")
        for _ in range(20):
            try:
                ws = await self.http.ws_connect(f"{self.lb}/ws/agent?{query}",
                                                headers={"Authorization": f"Bearer {token}"})
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        else:
            raise AssertionError("no node took the agent")
        client = AgentClient(ws)
        await client.expect("welcome")
        return client, ws._response.headers["X-Kefu-Node"]

    async def event(self, event_type: str, data: dict[str, Any]) -> None:
        assert self.http is not None
        body, headers = signed(EVENT_SECRET, envelope(event_type, data))
        async with self.http.post(f"{self.lb}/api/events", data=body, headers=headers) as response:
            assert response.status == 200, await response.text()


@pytest.fixture
def start_cluster(tmp_path: Path, pg_url: str, redis_url: str,
                  write_config: Callable[..., Path]) -> Iterator[Callable[..., Any]]:
    """``cluster, tokens = await start_cluster(agents={"ann": 2}, env={...})``: agents (name -> capacity, team
    support) are created first; ``cluster.sink`` receives the conversation webhooks."""
    if not os.path.exists(HAPROXY) or shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("haproxy and redis-server must be installed in CI (.ci/run installs haproxy)")
        pytest.skip("haproxy or redis-server not installed")
    started: list[Any] = []

    async def start(agents: dict[str, int], env: dict[str, str] | None = None) -> tuple[Cluster, dict[str, str]]:
        redis = PrivateRedis(tmp_path)
        await redis.start()
        started.append(redis)
        sink = WebhookSink()
        await sink.start()
        started.append(sink)
        config = write_config(textwrap.dedent(f"""
            [cluster]
            redis_url = "{redis.url}"
            heartbeat_interval = 0.3
            session_ttl = 5.0

            [events.sources.shop]
            secrets = ["{EVENT_SECRET}"]

            [webhooks]
            backoff_base = 0.2
            backoff_max = 1.0

            [webhooks.endpoints.sink]
            url = "http://127.0.0.1:{sink.port}/hook"
            secret = "sink-secret"
            events = ["conversation.closed"]
            """), db_url=pg_url)
        async with open_store(pg_url) as store:  # migrated once, agents in place before any node starts
            await ensure_teams(store, ["support"])
            tokens = {name: await add_agent(store, name, ["support"], capacity) for name, capacity in agents.items()}
        cluster = Cluster(tmp_path, config, redis, {"KEFU_SERVER__LOG_FORMAT": "json", **(env or {})})
        cluster.sink = sink  # type: ignore[attr-defined]
        started.append(cluster)
        await cluster.start()
        return cluster, tokens

    yield start

    # whatever the test left running (a failed test never reached stop_cluster) ends here
    for thing in reversed(started):
        if isinstance(thing, PrivateRedis):
            thing.stop()
        elif isinstance(thing, Cluster):
            for node in thing.nodes.values():
                if node.proc.poll() is None:
                    node.proc.kill()
            if thing.haproxy is not None and thing.haproxy.poll() is None:
                thing.haproxy.kill()


async def stop_cluster(cluster: Cluster) -> None:
    await cluster.stop()
    await cluster.sink.stop()  # type: ignore[attr-defined]
    cluster.redis.stop()

