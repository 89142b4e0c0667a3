"""The visitor message rate is one bucket per customer, kept only while it matters."""

from __future__ import annotations

from kefu_host.chat.ratelimit import SharedBuckets, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 0.5
    clock.now += 0.5
    assert bucket.take() == 0.0 and not bucket.full()
    clock.now += 10
    assert bucket.full()


def test_every_socket_of_a_key_shares_one_bucket() -> None:
    buckets = SharedBuckets(rate=1.0, burst=2, clock=Clock())
    tabs = [buckets.acquire("customer-1") for _ in range(5)]
    assert len({id(t) for t in tabs}) == 1
    assert [tabs[n].take() == 0.0 for n in range(5)] == [True, True, False, False, False]
    assert buckets.acquire("customer-2").take() == 0.0  # another customer has their own


def test_a_bucket_outlives_its_sockets_until_it_is_full_again_then_is_dropped() -> None:
    clock = Clock()
    buckets = SharedBuckets(rate=1.0, burst=2, clock=clock)
    bucket = buckets.acquire("c")
    bucket.take(), bucket.take()
    buckets.release("c")
    assert buckets.acquire("c").take() > 0  # reconnecting buys no fresh burst
    buckets.release("c")
    clock.now += 2.5
    buckets.acquire("someone-else")  # any later use forgets the buckets that are full and unheld
    assert len(buckets) == 1


def test_many_visitors_who_left_leave_nothing_behind() -> None:
    clock = Clock()
    buckets = SharedBuckets(rate=5.0, burst=20, clock=clock)
    for n in range(10_000):
        buckets.acquire(n).take()
        buckets.release(n)
    clock.now += 4.0  # every bucket is full again
    buckets.acquire("the next visitor")
    assert len(buckets) == 1
