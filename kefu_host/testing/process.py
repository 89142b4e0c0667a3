"""A real ``kefu-host`` process for tests, with its JSON log lines readable as they come."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class LogTail:
    """Every JSON line a process writes to a pipe, read by a thread of its own, with ways to wait for one.

    A line that is not JSON (a traceback written straight to stderr) is kept as ``{"event": None, "text": line}``.
    """

    def __init__(self, pipe: Any) -> None:
        self.records: list[Record] = []
        self.closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"event": None, "text": line}
            if not isinstance(record, dict):
                record = {"event": None, "text": line}
            with self._changed:
                self.records.append(record)
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def find(self, match: Callable[[Record], bool]) -> Record | None:
        with self._changed:
            return next((r for r in self.records if match(r)), None)

    def wait(self, event: str | Callable[[Record], bool], timeout: float = 30.0) -> Record:
        """The first record (from the start) whose ``event`` is ``event`` (or that ``event`` matches).

        Raises AssertionError when the pipe closes or ``timeout`` passes without one.
        """
        match = event if callable(event) else (lambda r: r.get("event") == event)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((r for r in self.records if match(r)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    why = "the process closed its log" if self.closed else f"{timeout} s passed"
                    raise AssertionError(f"no log line {event!r}: {why}; last lines: {self.records[-5:]}")
                self._changed.wait(left)

    async def until(self, event: str | Callable[[Record], bool], timeout: float = 30.0) -> Record:
        """:meth:`wait` without blocking the event loop."""
        return await asyncio.to_thread(self.wait, event, timeout)

    def join(self, timeout: float = 10.0) -> None:
        """Wait until the pipe is closed and every line read (after the process exited)."""
        self._thread.join(timeout)


class HostProcess:
    """``python -m kefu_host --config CFG [ARGS]`` with its stderr log tailed (``python``: another environment's)."""

    def __init__(self, config: Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 python: str | Path = sys.executable) -> None:
        self.proc = subprocess.Popen(
            [str(python), "-m", "kefu_host", "--config", str(config), *args],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.log = LogTail(self.proc.stderr)
        self.port: int | None = None

    def wait_listening(self, timeout: float = 30.0) -> int:
        """The port, once the host logs "listening"."""
        try:
            record = self.log.wait("listening", timeout)
        except AssertionError as exc:
            raise AssertionError(f"host did not start (exit code {self.proc.poll()}): {exc}") from None
        self.port = int(record["port"])
        return self.port

    @property
    def url(self) -> str:
        assert self.port is not None, "not listening yet"
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 15.0) -> int:
        """The exit code; every log line has been read when this returns."""
        code = self.proc.wait(timeout)
        self.log.join()
        return code

    async def exited(self, timeout: float = 15.0) -> int:
        return await asyncio.to_thread(self.wait, timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()
