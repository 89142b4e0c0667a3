"""Serving a small aiohttp app on a loopback address inside the host: the bundled plugins' simulators.

An ERP simulator or a payment sandbox speaks the contract of a system outside the product so that the default
configuration works end to end. It listens only on a loopback address (a simulator is never a service for others)
and, when its port is taken, fails with one line that says what to do instead of a traceback.
"""

from __future__ import annotations

import errno
import ipaddress

from aiohttp import web
from yarl import URL

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_loopback(key: str, url: str, what: str) -> None:
    """ValueError naming ``key`` unless ``url`` is plain http on a loopback address (a simulator listens there)."""
    parsed = URL(url)
    if parsed.scheme != "http" or not is_loopback(parsed.host):
        raise ValueError(
            f"{key}: {what} listens only on a loopback http address like http://127.0.0.1:PORT, got {url!r}; "
            f"point {key} at the real system and turn {what} off"
        )


class SimulatorError(RuntimeError):
    """A simulator could not start (its port is taken); the message says what to do."""


class LoopbackServer:
    """One aiohttp app served on a loopback URL's host and port (port 0: any free port, see :attr:`url`)."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self._runner = runner
        #: Where it listens, with the port it got when asked for port 0.
        self.url = url

    @classmethod
    async def start(cls, app: web.Application, url: str, *, name: str, setting: str) -> LoopbackServer:
        """Listen on ``url``; :class:`SimulatorError` naming ``setting`` when the port is in use."""
        parsed = URL(url)
        host = (parsed.host or "127.0.0.1").strip("[]")
        port = parsed.explicit_port if parsed.explicit_port is not None else 80
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            why = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise SimulatorError(
                f"{name} cannot listen on {host}:{port}: {why}. Stop what listens there, or set {setting} "
                f"to a free loopback port (port 0 picks one), or turn {name} off and set the real system's URL"
            ) from None
        bound = runner.addresses[0][1] if runner.addresses else port
        return cls(runner, str(parsed.with_port(int(bound)).with_path("")).rstrip("/"))

    async def close(self) -> None:
        await self._runner.cleanup()
