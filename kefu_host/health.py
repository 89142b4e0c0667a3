"""Liveness and readiness, and the lifecycle state readiness reports."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from aiohttp import web

from kefu_host.keys import LIFECYCLE


class Phase(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


class Lifecycle:
    """Where the host is in its life; ``/readyz`` answers 200 only while READY and every check passes."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.checks: dict[str, Callable[[], Awaitable[bool]]] = {}

    def ready(self) -> None:
        if self.phase is Phase.STARTING:
            self.phase = Phase.READY

    def drain(self) -> None:
        self.phase = Phase.DRAINING

    @property
    def draining(self) -> bool:
        return self.phase is Phase.DRAINING

    async def report(self) -> tuple[bool, dict[str, object]]:
        results = {name: await check() for name, check in self.checks.items()}
        ok = self.phase is Phase.READY and all(results.values())
        return ok, {"status": self.phase.value if ok or self.phase is not Phase.READY else "degraded", "checks": results}


async def livez(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the host should get traffic; 503 while starting, draining or when a check fails."""
    ok, body = await request.app[LIFECYCLE].report()
    return web.json_response(body, status=200 if ok else 503)
