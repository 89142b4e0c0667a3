"""The delivery worker: takes due deliveries from the table, sends them, records what happened.

It wakes when this process records a delivery (:meth:`DeliveryWorker.wake`) and otherwise polls the table every
``poll_interval`` seconds, which is how it finds retries that came due and replays made by ``kefu-host webhooks
replay`` from another process. At most ``max_in_flight`` sends run at once.

Order: deliveries are *started* in order of when they are due (then of when they were recorded), but sends run
concurrently and a failed one is retried later while newer ones go ahead, so receivers may see events out of order.
Each event carries ``occurred_at`` and the conversation's state for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import orjson
import structlog

from kefu_host.config import WebhooksConfig
from kefu_host.metrics import MetricsOff
from kefu_host.store import Store
from kefu_host.store.models import utcnow
from kefu_host.tasks import stop_tasks
from kefu_host.tracing import TRACING_OFF, Tracing
from kefu_host.tracing.http import client_trace_configs
from kefu_host.webhooks import repo
from kefu_host.webhooks.backoff import next_attempt_at
from kefu_host.webhooks.repo import Claim, Status
from kefu_host.webhooks.sender import Attempt, post

log = structlog.get_logger("kefu_host.webhooks")

#: Seconds added when sleeping until a retry, so the wake-up never lands a hair before it is due.
RETRY_WAKE_SLACK = 0.005


@dataclass(frozen=True)
class WorkerOptions:
    #: Seconds between looks at the table for retries and replays (new deliveries wake the worker at once).
    poll_interval: float = 1.0
    #: Most sends at once, over all endpoints.
    max_in_flight: int = 16
    #: Seconds a claim outlives the endpoint's timeout, so a slow send is never claimed twice by another worker;
    #: after a crash, a send that was in flight goes out again once its lease (timeout + margin) has passed.
    lease_margin: float = 30.0


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        config: WebhooksConfig,
        options: WorkerOptions = WorkerOptions(),
        *,
        rand: Callable[[], float] = random.random,
        metrics: MetricsOff | None = None,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self.store = store
        self.metrics = metrics if metrics is not None else MetricsOff()
        self.tracing = tracing
        self.config = config
        self.options = options
        self.rand = rand
        self._wake = asyncio.Event()
        self._in_flight: dict[str, tuple[asyncio.Task[None], Claim]] = {}
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        #: The earliest retry this worker scheduled, so it wakes for it rather than at the next poll.
        self._soonest: datetime | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.options.max_in_flight),
            trace_configs=client_trace_configs(self.tracing),
        )
        self._task = asyncio.create_task(self._run(), name="kefu-webhooks")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling, cancel sends in flight and give their claims back so they go out first after a restart."""
        await stop_tasks(self._task)
        in_flight = list(self._in_flight.values())
        await stop_tasks(*(task for task, _ in in_flight))
        interrupted = [c for task, c in in_flight if task.cancelled()]
        if interrupted:
            try:
                # fenced: a claim whose outcome was already recorded is left alone
                released = await repo.release(self.store, interrupted, utcnow())
                log.info("webhook sends interrupted by shutdown; released", count=released)
            except Exception as exc:  # the leases expire on their own; the deliveries are only late
                log.warning("could not release webhook claims", error=f"{type(exc).__name__}: {exc}")
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before looking, so a delivery recorded while we look wakes the next round
            try:
                await self._fill()
            except Exception as exc:  # the store may be briefly unavailable: try again next round
                log.warning(
                    "webhook worker could not read due deliveries", error=f"{type(exc).__name__}: {exc}"
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sleep_for()):
                    await self._wake.wait()

    def _sleep_for(self) -> float:
        wait = self.options.poll_interval
        if self._soonest is not None:
            until = (self._soonest - utcnow()).total_seconds()
            if until <= wait:
                self._soonest = None  # later retries are found by the poll
                wait = max(0.0, until) + RETRY_WAKE_SLACK
        return wait

    async def _fill(self) -> None:
        free = self.options.max_in_flight - len(self._in_flight)
        if free <= 0:
            return
        now = utcnow()
        rows = await repo.due(self.store, now, free, exclude=list(self._in_flight))
        leases = [(d, now + timedelta(seconds=self._timeout(d.endpoint) + self.options.lease_margin)) for d in rows]
        for claim in await repo.claim(self.store, leases):
            task = asyncio.create_task(self._deliver(claim), name=f"kefu-webhook-{claim.id}")
            self._in_flight[claim.id] = (task, claim)
            task.add_done_callback(lambda _, cid=claim.id: self._finished(cid))

    def _finished(self, delivery_id: str) -> None:
        self._in_flight.pop(delivery_id, None)
        self._wake.set()  # a slot is free: more may be due

    def _timeout(self, endpoint: str) -> float:
        configured = self.config.endpoints.get(endpoint)
        return configured.timeout if configured else 0.0

    async def _deliver(self, claim: Claim) -> None:
        # the URL and secret come from the configuration now, so a changed endpoint applies to queued deliveries
        endpoint = self.config.endpoints.get(claim.endpoint)
        if endpoint is None:
            attempt, final = (
                Attempt(ok=False, error=f"endpoint {claim.endpoint!r} is no longer configured"),
                True,
            )
        else:
            assert self._session is not None
            final = False
            try:
                body = orjson.dumps(claim.payload)
                with self.tracing.span("webhook deliver", attributes={
                        "kefu.endpoint": claim.endpoint, "kefu.delivery_id": claim.id,
                        "kefu.event_type": str(claim.payload.get("type")), "kefu.attempt": claim.attempt}):
                    attempt = await post(
                        self._session, endpoint.url, endpoint.secret, claim.id, body, endpoint.timeout
                    )
            except (
                Exception
            ) as exc:  # a bug here must still end in a recorded attempt, or it would loop forever
                log.exception("webhook send failed unexpectedly", delivery_id=claim.id)
                attempt = Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
        await self._settle(claim, attempt, final)

    async def _settle(self, claim: Claim, attempt: Attempt, final: bool) -> None:
        now = utcnow()
        status: Status
        retry_at = None
        if attempt.ok:
            status = "delivered"
        elif final or claim.attempt >= self.config.max_attempts:
            status = "dead"
        else:
            status = "pending"
            retry_at = next_attempt_at(
                now, claim.attempt, self.config.backoff_base, self.config.backoff_max, self.rand
            )
        fields = {
            "delivery_id": claim.id,
            "endpoint": claim.endpoint,
            "event_type": claim.payload.get("type"),
            "attempt": claim.attempt,
        }
        try:
            applied = await repo.settle(
                self.store, claim, status, now, error=attempt.error, retry_at=retry_at
            )
        except Exception as exc:  # the lease expires and the delivery is sent again: at least once holds
            log.warning("could not record a webhook outcome", error=f"{type(exc).__name__}: {exc}", **fields)
            return
        if applied:
            self.metrics.webhook(claim.endpoint, "retry" if status == "pending" else status)
        if not applied:
            log.info("webhook outcome dropped: the delivery was replayed or taken over meanwhile", **fields)
        elif status == "dead":
            log.warning("webhook dead-lettered", last_error=attempt.error, **fields)
        elif status == "pending" and retry_at is not None:
            self._soonest = retry_at if self._soonest is None else min(self._soonest, retry_at)
            log.info(
                "webhook attempt failed; will retry",
                error=attempt.error,
                retry_at=retry_at.isoformat(),
                **fields,
            )
