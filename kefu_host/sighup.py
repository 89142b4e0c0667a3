"""One SIGHUP handler for the app: ``kill -HUP`` reloads the rules and the plugins' enablement alike.

asyncio keeps one handler per signal, so features add their reload here instead of installing their own. The
handler is installed with the first reload added and removed with the last; installing needs the main thread
(elsewhere, as in tests running the app in a thread, SIGHUP simply does nothing).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger("kefu_host.sighup")

Reload = Callable[[], Awaitable[Any]]


class Sighup:
    def __init__(self) -> None:
        self._reloads: list[Reload] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def installed(self) -> bool:
        """Whether this process's SIGHUP handler is the app's now."""
        return self._loop is not None

    def add(self, reload: Reload) -> bool:
        """Run ``reload`` on every SIGHUP from now on; False when this process cannot take signals."""
        self._reloads.append(reload)
        if self._loop is None:
            loop = asyncio.get_running_loop()
            try:
                loop.add_signal_handler(signal.SIGHUP, self._fire)
            except (NotImplementedError, RuntimeError, ValueError):
                return False
            self._loop = loop
        return True

    def discard(self, reload: Reload) -> None:
        if reload in self._reloads:
            self._reloads.remove(reload)
        if not self._reloads and self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGHUP)
            self._loop = None

    def _fire(self) -> None:
        assert self._loop is not None
        for reload in list(self._reloads):
            task = self._loop.create_task(reload())
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reload on SIGHUP failed", error=repr(task.exception()))
