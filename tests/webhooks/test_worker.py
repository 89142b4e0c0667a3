"""The worker on its own: several workers on one database never send a delivery twice; the retry schedule."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import pytest

from kefu_host.config import WebhookEndpoint, WebhooksConfig
from kefu_host.store import open_store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import repo
from kefu_host.webhooks.backoff import nominal_delay, retry_delay
from kefu_host.webhooks.events import MESSAGE_CREATED, new_event
from kefu_host.webhooks.plugin import worker_options
from kefu_host.webhooks.worker import DeliveryWorker, WorkerOptions
from tests.webhooks.conftest import SECRET, Receiver, wait_status


async def test_two_workers_on_one_database_send_each_delivery_once(
    db_url: str, receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    """Two host processes share PostgreSQL (or a SQLite file): the claim lets exactly one of them send each row."""
    receiver = await receivers()
    config = WebhooksConfig(
        max_attempts=3,
        backoff_base=0.05,
        backoff_max=0.2,
        endpoints={"crm": WebhookEndpoint(url=receiver.url, secret=SECRET, timeout=2.0)},
    )
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_store(db_url))
        second = await stack.enter_async_context(open_store(db_url, migrate=False))
        ids = []
        for n in range(30):
            event = new_event(MESSAGE_CREATED, utcnow(), {"n": n})
            ids += await repo.record(first, event, [("crm", receiver.url)])
        workers = [
            DeliveryWorker(store, config, WorkerOptions(poll_interval=0.05, max_in_flight=4))
            for store in (first, second)
        ]
        for worker in workers:
            worker.start()
        try:
            for delivery_id in ids:
                await wait_status(first, delivery_id, "delivered")
        finally:
            for worker in workers:
                await worker.stop()
    # every row is delivered, so nothing can be sent any more: the count is final
    assert sorted(r.delivery_id for r in receiver.requests) == sorted(ids)
    assert sorted(r.payload["data"]["n"] for r in receiver.requests) == list(range(30))


def test_the_retry_delay_doubles_from_the_base_up_to_the_cap() -> None:
    assert [nominal_delay(n, 5.0, 3600.0) for n in range(1, 6)] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert nominal_delay(12, 5.0, 3600.0) == 3600.0
    assert nominal_delay(10_000, 5.0, 3600.0) == 3600.0  # no overflow however many attempts


def test_equal_jitter_keeps_the_delay_between_half_and_all_of_the_nominal_one() -> None:
    assert retry_delay(3, 5.0, 3600.0, rand=lambda: 0.0) == 10.0
    assert retry_delay(3, 5.0, 3600.0, rand=lambda: 1.0) == 20.0
    assert retry_delay(3, 5.0, 3600.0, rand=lambda: 0.5) == 15.0
    with pytest.raises(ValueError):
        nominal_delay(0, 5.0, 3600.0)


def test_plugin_settings_are_checked() -> None:
    assert worker_options({}) == WorkerOptions()
    assert worker_options({"poll_interval": 2, "max_in_flight": 4}) == WorkerOptions(2.0, 4)
    assert worker_options({"lease_margin": 5}) == WorkerOptions(lease_margin=5.0)
    for bad in (
        {"poll_interval": 0},
        {"poll_interval": "1s"},
        {"max_in_flight": 0},
        {"max_in_flight": 1.5},
        {"max_in_flight": True},
        {"pol_interval": 1},
        {"lease_margin": 0},
        {"lease_margin": "30"},
    ):
        with pytest.raises(ValueError):
            worker_options(bad)
