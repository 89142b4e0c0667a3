"""Stopping background tasks: every task ends, whatever it does with its cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kefu_host import tasks
from kefu_host.tasks import Unfinished, stop_tasks, wait_event


class Lines(list[dict[str, Any]]):
    """What the module logged, whatever structlog's configuration (which the host caches on first use)."""

    def warning(self, event: str, **fields: Any) -> None:
        self.append({"event": event, "log_level": "warning", **fields})

    def error(self, event: str, **fields: Any) -> None:
        self.append({"event": event, "log_level": "error", **fields})


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Lines:
    lines = Lines()
    monkeypatch.setattr(tasks, "log", lines)
    return lines


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_until_it_ends(logs: Lines) -> None:
    """As Python 3.11's ``asyncio.wait_for`` does when the cancel comes as its inner call completes (gh-86296):
    the loop carries on. Cancelled once and awaited, such a task would keep a shutdown waiting forever."""
    swallowed = 0
    waiting = asyncio.Event()

    async def loop_that_swallows_once() -> None:
        nonlocal swallowed
        while True:
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(loop_that_swallows_once(), name="swallower")
    await waiting.wait()
    async with asyncio.timeout(10):
        await stop_tasks(task)
    assert task.cancelled() and swallowed == 1
    assert [entry["task"] for entry in logs if "cancelling it again" in entry["event"]] == ["swallower"]


async def test_a_task_that_failed_is_logged_and_the_others_are_still_stopped(logs: Lines) -> None:
    async def fail() -> None:
        raise RuntimeError("lost the database")

    failed = asyncio.create_task(fail(), name="failing")
    forever = asyncio.create_task(asyncio.Event().wait(), name="forever")
    await asyncio.sleep(0)  # the failing task has run
    await stop_tasks(failed, None, forever)
    assert forever.cancelled()
    [entry] = [entry for entry in logs if entry["log_level"] == "error"]
    assert entry["task"] == "failing" and isinstance(entry["exc_info"], RuntimeError)


async def test_the_callers_own_cancellation_is_not_swallowed() -> None:
    started, stubborn = asyncio.Event(), True

    async def swallows_while_stubborn() -> None:
        while True:
            try:
                started.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if not stubborn:
                    raise

    task = asyncio.create_task(swallows_while_stubborn())
    await started.wait()
    stopping = asyncio.create_task(stop_tasks(task))
    await asyncio.sleep(0)  # stopping is waiting for the task
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    stubborn = False
    await stop_tasks(task)
    assert task.cancelled()


async def test_wait_event_says_whether_the_event_came_in_time() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 30) is True


async def test_shielded_work_outlives_its_cancelled_caller_and_finish_waits_for_it() -> None:
    unfinished, release, finished = Unfinished(), asyncio.Event(), []

    async def remove_presence_row() -> str:
        await release.wait()
        finished.append("row removed")
        return "removed"

    handler = asyncio.create_task(unfinished.shielded(remove_presence_row()))
    await asyncio.sleep(0)  # the handler is waiting for the work
    handler.cancel()  # the peer went away
    with pytest.raises(asyncio.CancelledError):
        await handler
    assert finished == []
    finishing = asyncio.create_task(unfinished.finish(timeout=30))
    await asyncio.sleep(0)
    assert not finishing.done()  # shutting down waits for the row
    release.set()
    await finishing
    assert finished == ["row removed"]


async def test_finish_stops_work_still_running_after_its_timeout() -> None:
    unfinished = Unfinished()
    handler = asyncio.create_task(unfinished.shielded(asyncio.Event().wait()))
    await asyncio.sleep(0)
    handler.cancel()
    await unfinished.finish(timeout=0.01)
    assert unfinished._tasks == set()
