"""Stopping background tasks and waiting with a bound, correctly on Python 3.11.

Python 3.11's ``asyncio.wait_for`` drops a cancellation that arrives as the call it awaits completes (CPython
gh-86296, fixed in 3.12). Dependencies await through it (redis-py's socket writes and reads), so a task cancelled
at that instant carries on, and a shutdown that cancels it once and awaits it waits forever. The host therefore
stops its tasks with `stop_tasks`, which cancels again until each has ended (as anyio re-delivers a cancel scope's
cancellation), and waits for its own events with `wait_event`, built on ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("kefu_host.tasks")

#: How long a cancelled task may run on before it is cancelled again.
RECANCEL_SECONDS = 0.2

T = TypeVar("T")


async def stop_tasks(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (``None`` entries are skipped) and return once every one has ended.

    A task that swallowed its cancellation is cancelled again every `RECANCEL_SECONDS`. A task that ended with an
    error is logged, not raised: stopping goes on for the rest. A cancellation of the caller itself propagates."""
    pending = {task for task in tasks if task is not None and not task.done()}
    ended = [task for task in tasks if task is not None and task.done()]
    while pending:
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        ended.extend(done)
        for task in pending:
            log.warning("task ran on after being cancelled; cancelling it again", task=task.get_name())
    for task in ended:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("task failed before it was stopped", task=task.get_name(), exc_info=error)


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds have passed; whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


class Unfinished:
    """Work that must finish even when the one waiting for it is cancelled (aiohttp cancels a socket's handler when
    the peer goes away), and that shutting down waits for before closing what the work needs."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    async def shielded(self, work: Awaitable[T]) -> T:
        """Await ``work``; a cancellation of the caller leaves it running, tracked here."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def finish(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the work in flight, then stop what is left."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        await stop_tasks(*self._tasks)  # type: ignore[arg-type]
