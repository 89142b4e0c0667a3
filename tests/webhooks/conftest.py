"""Webhook fixtures: a receiver on a loopback socket that verifies every signature, and a host configured for it.

The receiver stands in for the company's system (it is outside the product); everything else is the real host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kefu_host.config import Config, load_config
from kefu_host.events.signing import SignatureError, verify
from kefu_host.keys import STORE
from kefu_host.store import Store
from kefu_host.webhooks import repo
from kefu_host.webhooks.repo import Delivery
from tests.chat.conftest import Host

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY="  # base64 of a 32-byte key
OTHER_SECRET = "plain-text-secret-for-the-second-endpoint"
#: Upper bound on any wait for the host to act; a wait that ends sooner is the normal case.
WAIT = 10.0
HANG = -1  # a planned answer: never answer (the sender's timeout must fire)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def delivery_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """Answers with the planned statuses in order, then ``default``; 401 when the signature does not verify."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.plan: list[int] = []
        self.default = 200
        self.requests: list[Received] = []
        self.url = ""
        self._arrived = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verify(headers, body, [self.secret])
            verified = True
        except SignatureError:
            verified = False
        status = (self.plan.pop(0) if self.plan else self.default) if verified else 401
        async with self._arrived:
            self.requests.append(Received(headers, body, verified, status))
            self._arrived.notify_all()
        if status == HANG:
            await asyncio.sleep(3600)
        return web.Response(status=status, text="receiver says no" if status >= 300 else "ok")

    async def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        """The first ``count`` requests, once that many have arrived."""
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests[:count]

    def types(self) -> list[str]:
        return [r.payload["type"] for r in self.requests]


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    runners: list[web.AppRunner] = []

    async def start(secret: str = SECRET) -> Receiver:
        receiver = Receiver(secret)
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        receiver.url = f"http://127.0.0.1:{port}/hook"
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


def webhooks_toml(
    endpoints: dict[str, tuple[str, str, list[str]]],
    *,
    max_attempts: int = 3,
    timeout: float = 2.0,
    poll_interval: float | None = None,
) -> str:
    """``[webhooks]`` with tiny backoff values and one table per endpoint: name -> (url, secret, events)."""
    out = f"""
[webhooks]
max_attempts = {max_attempts}
backoff_base = 0.05
backoff_max = 0.2
"""
    for name, (url, secret, events) in endpoints.items():
        out += f"""
[webhooks.endpoints.{name}]
url = "{url}"
secret = "{secret}"
events = {json.dumps(events)}
timeout = {timeout}
"""
    if poll_interval is not None:
        out += f'\n[plugins."core.webhooks"]\npoll_interval = {poll_interval}\n'
    return out


@pytest.fixture
def webhook_config(write_config: Callable[..., Path]) -> Callable[..., tuple[Path, Config]]:
    """Write kefu.toml with the given extra TOML; returns its path (for the CLI) and the loaded config."""

    def make(extra: str, *, db_url: str | None = None) -> tuple[Path, Config]:
        path = write_config(extra, db_url=db_url)
        return path, load_config(path, environ={})

    return make


@pytest.fixture
def start_webhook_host(start_app: Callable[..., Any]) -> Callable[..., Awaitable[Host]]:
    async def start(config: Config) -> Host:
        return Host(await start_app(config=config))

    return start


async def wait_status(store: Store, delivery_id: str, status: str, timeout: float = WAIT) -> Delivery:
    """The delivery once it has ``status``; fails with its last state when that does not happen in time."""
    last: Delivery | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await repo.get(store, delivery_id)
                if last is not None and last.status == status:
                    return last
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"delivery {delivery_id} never became {status}; last seen: {last}") from None


async def deliveries(host: Host) -> list[Delivery]:
    """Every delivery row, oldest first."""
    return list(reversed(await repo.list_deliveries(host.app[STORE], limit=1000)))
