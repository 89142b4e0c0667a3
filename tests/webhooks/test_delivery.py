"""Delivery against a real receiver: retries keep the delivery id, failures of every kind count, state survives."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kefu_host.config import database_url
from kefu_host.keys import STORE
from kefu_host.store import open_store
from kefu_host.store.models import utcnow
from kefu_host.webhooks import repo
from kefu_host.webhooks.events import CONVERSATION_CREATED, new_event
from tests.chat.conftest import Host
from tests.webhooks.conftest import HANG, SECRET, WAIT, Receiver, deliveries, wait_status, webhooks_toml

CREATED_ONLY = ["conversation.created"]


async def one_delivery(host: Host) -> str:
    """Open a conversation (one conversation.created for an endpoint subscribed to just that); its delivery id."""
    visitor = await host.visitor()
    await visitor.say("hello")
    await visitor.send({"type": "ping"})
    await visitor.expect("pong")  # the opening hooks, and so the recording, are done
    (row,) = await deliveries(host)
    return row.id


def log_events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == event]


async def test_a_delivery_that_fails_twice_is_delivered_once_on_the_third_attempt_with_the_same_id(
    db_url: str,
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    receiver = await receivers()
    receiver.plan = [500, 503]
    _, config = webhook_config(webhooks_toml({"crm": (receiver.url, SECRET, CREATED_ONLY)}), db_url=db_url)
    host = await start_webhook_host(config)
    delivery_id = await one_delivery(host)

    row = await wait_status(host.app[STORE], delivery_id, "delivered")
    assert row.attempts == 3 and row.delivered_at is not None and row.next_attempt_at is None
    assert row.last_error == "HTTP 503: receiver says no"  # the most recent failure is kept for the record
    tries = receiver.requests
    assert [r.answered for r in tries] == [500, 503, 200]
    assert {r.delivery_id for r in tries} == {delivery_id}
    assert all(r.verified for r in tries)
    assert len({r.body for r in tries}) == 1


async def test_a_delivery_that_always_fails_is_dead_lettered_and_a_replay_from_the_cli_delivers_it(
    db_url: str,
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = await receivers()
    receiver.default = 500
    path, config = webhook_config(
        webhooks_toml({"crm": (receiver.url, SECRET, CREATED_ONLY)}, max_attempts=3), db_url=db_url
    )
    host = await start_webhook_host(config)
    delivery_id = await one_delivery(host)

    dead = await wait_status(host.app[STORE], delivery_id, "dead")
    assert dead.attempts == 3 and dead.next_attempt_at is None and dead.delivered_at is None
    assert dead.last_error == "HTTP 500: receiver says no"
    assert len(receiver.requests) == 3
    (logged,) = log_events(caplog, "webhook dead-lettered")
    assert (logged["delivery_id"], logged["endpoint"], logged["attempt"]) == (delivery_id, "crm", 3)

    # the receiver is fixed; an operator replays from another process against the live host's database
    receiver.default = 200
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kefu_host",
        "--config",
        str(path),
        "webhooks",
        "replay",
        delivery_id,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(path.parent),
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT * 3)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == f"{delivery_id}: queued for delivery"

    delivered = await wait_status(host.app[STORE], delivery_id, "delivered")
    assert delivered.attempts == 1
    assert [r.answered for r in receiver.requests] == [500, 500, 500, 200]
    assert {r.delivery_id for r in receiver.requests} == {delivery_id}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_connections_and_timeouts_are_failed_attempts(
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    silent = await receivers()
    silent.plan = [HANG, HANG]
    _, config = webhook_config(
        webhooks_toml(
            {
                "gone": (f"http://127.0.0.1:{closed_port()}/hook", SECRET, CREATED_ONLY),
                "silent": (silent.url, SECRET, CREATED_ONLY),
            },
            max_attempts=2,
            timeout=0.2,
        )
    )
    host = await start_webhook_host(config)
    visitor = await host.visitor()
    await visitor.say("hello")
    await visitor.send({"type": "ping"})
    await visitor.expect("pong")
    rows = {r.endpoint: r for r in await deliveries(host)}
    gone = await wait_status(host.app[STORE], rows["gone"].id, "dead")
    timed_out = await wait_status(host.app[STORE], rows["silent"].id, "dead")
    assert gone.attempts == 2 and gone.last_error is not None
    assert gone.last_error.startswith("ClientConnectorError: Cannot connect to host 127.0.0.1")
    assert (timed_out.attempts, timed_out.last_error) == (2, "timed out after 0.2s")
    assert len(silent.requests) == 2


async def test_a_redirect_is_not_followed_but_counted_as_a_failure(
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    receiver = await receivers()
    receiver.plan = [307]
    _, config = webhook_config(webhooks_toml({"crm": (receiver.url, SECRET, CREATED_ONLY)}))
    host = await start_webhook_host(config)
    delivery_id = await one_delivery(host)
    row = await wait_status(host.app[STORE], delivery_id, "delivered")
    assert row.attempts == 2 and row.last_error is not None and row.last_error.startswith("HTTP 307")
    assert [r.answered for r in receiver.requests] == [307, 200]


async def test_deliveries_left_pending_or_mid_send_by_a_stopped_host_go_out_after_a_restart(
    db_url: str,
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_webhook_host: Callable[..., Awaitable[Host]],
) -> None:
    receiver = await receivers()
    _, config = webhook_config(webhooks_toml({"crm": (receiver.url, SECRET, ["*"])}), db_url=db_url)
    # a previous run recorded two deliveries, and crashed while sending the second (its claim has since expired)
    async with open_store(database_url(config)) as store:
        event = new_event(CONVERSATION_CREATED, utcnow(), {"conversation": {"id": 7}})
        waiting, interrupted = [
            (await repo.record(store, event, [("crm", "http://old.example/hook")]))[0] for _ in range(2)
        ]
        row = await repo.get(store, interrupted)
        assert row is not None
        (held,) = await repo.claim(store, [(row, utcnow() - timedelta(seconds=1))])
        assert held.attempt == 1

    host = await start_webhook_host(config)
    store = host.app[STORE]
    first = await wait_status(store, waiting, "delivered")
    second = await wait_status(store, interrupted, "delivered")
    assert (first.attempts, second.attempts) == (1, 2)  # the interrupted send counted, and was sent again
    assert sorted(r.delivery_id for r in receiver.requests) == sorted([waiting, interrupted])
    # the URL in force is the configured one, not the one stored with the row
    assert all(r.verified and r.payload["data"] == {"conversation": {"id": 7}} for r in receiver.requests)


async def test_shutdown_gives_back_a_send_in_flight_so_it_is_first_in_line_after_a_restart(
    receivers: Callable[..., Awaitable[Receiver]],
    webhook_config: Callable[..., Any],
    start_app: Callable[..., Any],
) -> None:
    receiver = await receivers()
    receiver.plan = [HANG]
    _, config = webhook_config(webhooks_toml({"crm": (receiver.url, SECRET, CREATED_ONLY)}, timeout=60.0))
    client = await start_app(config=config)
    host = Host(client)
    delivery_id = await one_delivery(host)
    await receiver.wait_for(1)  # the send is in flight: the receiver holds it
    claimed = await repo.get(host.app[STORE], delivery_id)
    assert claimed is not None and claimed.attempts == 1 and claimed.next_attempt_at is not None
    assert claimed.next_attempt_at > utcnow() + timedelta(seconds=60)  # leased past the endpoint's timeout

    await client.close()  # the app shuts down: kefu_shutdown stops the worker

    async with open_store(database_url(config)) as store:
        row = await repo.get(store, delivery_id)
    assert row is not None and row.status == "pending" and row.attempts == 0
    assert row.next_attempt_at is not None and row.next_attempt_at <= utcnow()


async def test_a_stale_outcome_does_not_overwrite_a_replay(db_url: str, tmp_path: Path) -> None:
    """The claim fences the outcome: a send that finishes after an operator replayed the row changes nothing."""
    async with open_store(db_url) as store:
        event = new_event(CONVERSATION_CREATED, utcnow(), {"conversation": {"id": 1}})
        (delivery_id,) = await repo.record(store, event, [("crm", "http://x.example/")])
        row = await repo.get(store, delivery_id)
        assert row is not None
        (held,) = await repo.claim(store, [(row, utcnow() + timedelta(seconds=60))])
        # a second claim on the same (now stale) row read loses
        assert await repo.claim(store, [(row, utcnow() + timedelta(seconds=60))]) == []
        assert await repo.settle(store, held, "dead", utcnow(), error="HTTP 500") is True
        await repo.replay(store, [delivery_id], utcnow())
        assert await repo.settle(store, held, "delivered", utcnow()) is False
        after = await repo.get(store, delivery_id)
        assert after is not None and (after.status, after.attempts) == ("pending", 0)
