"""Failed authentications per address: a bounded count that drains, in bounded memory."""

from __future__ import annotations

import pytest

from kefu_host.authguard import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_past_the_limit_an_address_waits_and_then_gets_one_more_try_per_window_share() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 30.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") == 0.0
        limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(10.0)
    assert limiter.retry_after("b") == 0.0
    clock.now += 10.0
    assert limiter.retry_after("a") == 0.0
    limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(10.0)
    clock.now += 30.0
    assert limiter.retry_after("a") == 0.0


def test_addresses_whose_count_drained_are_forgotten() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 30.0, clock=clock)
    for n in range(1000):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
    clock.now += 31.0
    for n in range(600):
        limiter.failed(f"192.0.2.{n % 200}")
    assert len(limiter) == 200


def test_memory_is_capped_whatever_the_number_of_addresses() -> None:
    limiter = FailureLimiter(3, 30.0, max_keys=100, clock=Clock())
    for n in range(5000):
        limiter.failed(f"addr-{n}")
    assert len(limiter) == 100
