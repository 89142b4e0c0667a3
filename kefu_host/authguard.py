"""Failed authentications, counted per client address: past ``auth.max_failures`` in ``auth.failure_window``
seconds an address is answered 429 with ``Retry-After`` before anything is checked.

Every credential check that can fail calls :meth:`AuthGuard.refuse` first and :meth:`AuthGuard.failed` when it
fails: the visitor and agent socket handshakes, the history endpoints and the admin API. Successes cost nothing and
count nothing. Behind a reverse proxy every client has the proxy's address; list the proxy in
``auth.trusted_proxies`` and the client is the rightmost ``X-Forwarded-For`` entry that is not a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from aiohttp import web

from kefu_host.config import AuthConfig
from kefu_host.http import error_response

#: Most addresses remembered at once; past it the least recently failing one is forgotten.
MAX_ADDRESSES = 100_000


class FailureLimiter:
    """At most ``limit`` failures per key in any ``window`` seconds, on average: each failure adds one to the key's
    count, which drains at ``limit / window`` a second. A key whose count reached ``limit`` is refused until it
    drains below. Keys whose count drained to zero are forgotten, so memory follows recent failures only."""

    def __init__(self, limit: int, window: float, *, max_keys: int = MAX_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.rate, self.max_keys, self.clock = limit, limit / window, max_keys, clock
        self._counts: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (count, when), oldest first

    def retry_after(self, key: str) -> float:
        """0.0 when ``key`` may try again now, else the seconds until it may."""
        entry = self._counts.get(key)
        if entry is None:
            return 0.0
        count = self._drained(entry, self.clock())
        return 0.0 if count <= self.limit - 1 else (count - (self.limit - 1)) / self.rate

    def failed(self, key: str) -> None:
        now = self.clock()
        entry = self._counts.pop(key, None)
        self._counts[key] = ((self._drained(entry, now) if entry else 0.0) + 1, now)
        self._forget_drained(now)

    def __len__(self) -> int:
        return len(self._counts)

    def _drained(self, entry: tuple[float, float], now: float) -> float:
        count, when = entry
        return max(0.0, count - (now - when) * self.rate)

    def _forget_drained(self, now: float) -> None:
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)
        for _ in range(2):  # a couple per failure keeps up with any rate of new keys
            key, entry = next(iter(self._counts.items()))
            if self._drained(entry, now) > 0:
                return
            del self._counts[key]


class AuthGuard:
    """:class:`FailureLimiter` by client address, with the 429 answer."""

    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = FailureLimiter(config.max_failures, config.failure_window, clock=clock)
        self.proxies = _networks(config.trusted_proxies)

    def address(self, request: web.BaseRequest) -> str:
        remote = request.remote or ""
        if not self.proxies or not _within(remote, self.proxies):
            return remote
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):
            if not _within(hop, self.proxies):
                return hop
        return hops[0] if hops else remote

    def refuse(self, request: web.BaseRequest) -> web.Response | None:
        """The 429 answer when the client failed too often lately, else None."""
        wait = self.limiter.retry_after(self.address(request))
        if not wait:
            return None
        seconds = max(1, math.ceil(wait))
        response = error_response(
            429, "too_many_failures",
            f"too many failed authentications from your address; retry in {seconds} s", retry_after=seconds,
        )
        response.headers["Retry-After"] = str(seconds)
        return response

    def failed(self, request: web.BaseRequest) -> None:
        self.limiter.failed(self.address(request))


def _networks(entries: Sequence[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _within(address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)
