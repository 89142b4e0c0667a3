"""When to try a failed delivery again: exponential backoff with equal jitter.

Equal jitter (half the delay fixed, half random) rather than full jitter: retries still spread out, so a receiver
that comes back is not hit by every waiting delivery at once, yet never arrive sooner than half the nominal delay,
which keeps the schedule in the docs meaningful for operators.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta


def nominal_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed tries: base, 2*base, 4*base, ... at most ``cap``."""
    if attempts < 1:
        raise ValueError("attempts counts failed tries and starts at 1")
    # the exponent is bounded so a large attempt count cannot overflow the float before the cap applies
    return min(cap, base * 2 ** min(attempts - 1, 62))


def retry_delay(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """The jittered delay: uniform in [nominal/2, nominal]."""
    delay = nominal_delay(attempts, base, cap)
    return delay / 2 + rand() * delay / 2


def next_attempt_at(
    now: datetime, attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random
) -> datetime:
    return now + timedelta(seconds=retry_delay(attempts, base, cap, rand))
