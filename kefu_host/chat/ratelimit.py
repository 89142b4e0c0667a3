"""Visitor message rate: a token bucket per customer (``rate`` messages a second on average, bursts up to
``burst``), shared by all of that customer's sockets, so five tabs get the rate of one."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp", "clock")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def full(self) -> bool:
        self._refill()
        return self.tokens >= self.burst

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


class SharedBuckets:
    """One :class:`TokenBucket` per key for as long as a socket holds it, and after the last one closes until the
    bucket is full again (so reconnecting never buys a fresh burst); then it is dropped."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._holders: Counter[Hashable] = Counter()
        self._idle: dict[Hashable, None] = {}  # keys nobody holds, in the order they were let go

    def acquire(self, key: Hashable) -> TokenBucket:
        self._forget_full()
        self._idle.pop(key, None)
        self._holders[key] += 1
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
        return bucket

    def release(self, key: Hashable) -> None:
        self._holders[key] -= 1
        if self._holders[key] <= 0:
            del self._holders[key]
            self._idle[key] = None
        self._forget_full()

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget_full(self) -> None:
        while self._idle:
            key = next(iter(self._idle))
            if not self._buckets[key].full():
                return  # the rest were let go later; they wait for the next call
            del self._idle[key], self._buckets[key]
