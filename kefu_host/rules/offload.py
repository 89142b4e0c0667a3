"""Building rule sets off the event loop: big snapshots in a worker process, small ones in a thread.

A thread is not enough for a big set: ``compile()`` of the generated function and the full garbage collections
over a freshly parsed tree are single C calls that hold the GIL throughout, whatever thread makes them. On
7,000 rules in 4.9 MB a build in a thread paused the loop for seconds at a time (``bench_rules_reload.py``).
So a snapshot of :data:`PROCESS_BYTES` or more is parsed, checked, compiled and tested in a fresh ``spawn``
process, at a lower CPU priority, which sends back an :class:`~kefu_host.rules.artifact.Artifact`; linking
that into a :class:`RuleSet` runs in a thread in short steps, and the loop only swaps. A process per build
gives its memory back when it exits, and a build that is cancelled (shutdown) ends by terminating it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from kefu_host.rules.errors import RuleSetError
from kefu_host.rules.loader import build_artifact, build_ruleset
from kefu_host.rules.ruleset import RuleSet
from kefu_host.rules.schema import Catalogue

#: Snapshots this large (bytes of all files) or larger are built in a worker process. Below it a thread pauses
#: the loop less than starting a process costs (see benchmarks/README.md).
PROCESS_BYTES = 64 * 1024


class WorkerFailed(Exception):
    """The worker process crashed or died without an answer; the message says how."""


@dataclass(frozen=True)
class Built:
    """A built rule set and where it was built: ``pid`` is the building process."""

    ruleset: RuleSet
    where: Literal["thread", "process"]
    pid: int
    seconds: float


@dataclass(frozen=True)
class _Request:
    files: Mapping[str, bytes]
    catalogue: Catalogue
    teams: tuple[str, ...] | None
    display_root: str
    revision: str | None
    run_inline_tests: bool
    allow_empty: bool


class RuleBuilder:
    """Builds rule sets for one catalogue and team list without blocking the event loop."""

    def __init__(
        self,
        catalogue: Catalogue,
        teams: Collection[str] | None = None,
        *,
        process_bytes: int = PROCESS_BYTES,
        allow_empty: bool = False,
    ) -> None:
        self.catalogue = catalogue
        self.teams = tuple(teams) if teams is not None else None
        self.process_bytes = process_bytes
        self.allow_empty = allow_empty

    async def build(
        self,
        files: Mapping[str, bytes],
        *,
        display_root: str = "",
        revision: str | None = None,
        run_inline_tests: bool = True,
    ) -> Built:
        """Build ``files``. Raises :class:`RuleSetError` for a set that does not load, :class:`WorkerFailed`
        when the worker process crashed."""
        started = time.perf_counter()
        request = _Request(
            files, self.catalogue, self.teams, display_root, revision, run_inline_tests, self.allow_empty
        )
        if sum(map(len, files.values())) < self.process_bytes:
            ruleset = await asyncio.to_thread(_build_here, request)
            return Built(ruleset, "thread", os.getpid(), time.perf_counter() - started)
        artifact, pid = await _in_worker(request)
        ruleset = await asyncio.to_thread(RuleSet.from_artifact, artifact)
        return Built(ruleset, "process", pid, time.perf_counter() - started)


def _build_here(request: _Request) -> RuleSet:
    return build_ruleset(
        request.files,
        request.catalogue,
        request.teams,
        display_root=request.display_root,
        revision=request.revision,
        run_inline_tests=request.run_inline_tests,
        allow_empty=request.allow_empty,
    )


async def _in_worker(request: _Request) -> tuple[Any, int]:
    # spawn: a fresh interpreter, with no copy of the host's memory, threads or open sockets
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_work, args=(sender, request), name="kefu-rules-build", daemon=True)
    cancelled = threading.Event()
    try:
        # One thread starts the worker (which writes the request into it: 5 MB would block the loop for a
        # second), waits for its answer, and reaps it.
        kind, value = await asyncio.to_thread(_run, worker, receiver, sender, cancelled)
    except asyncio.CancelledError:
        cancelled.set()  # before reading pid: a worker still starting sees this flag and ends itself
        if worker.pid is not None:
            worker.terminate()  # ends its answer with EOF, so the thread finishes too
        raise
    if kind == "ok":
        return value, worker.pid or 0
    if kind == "refused":
        raise value
    raise WorkerFailed(f"the rules build process {value}")


def _run(
    worker: BaseProcess, receiver: Connection, sender: Connection, cancelled: threading.Event
) -> tuple[str, Any]:
    try:
        worker.start()
        sender.close()  # the worker holds the only write end now, so its death ends our read with EOFError
        if cancelled.is_set():
            worker.terminate()
        try:
            result: tuple[str, Any] = receiver.recv()  # mostly bytes: cheap to unpickle, here in a thread
            return result
        except EOFError:
            return "died", "exited without an answer (killed, or out of memory?)"
    finally:
        if worker.pid is not None:  # None: start() itself failed
            worker.terminate()  # it answered or died; either way nothing it still does is wanted
            worker.join()
        sender.close()
        receiver.close()


def _work(sender: Connection, request: _Request) -> None:
    """The worker process: build, send the artifact or the errors, exit."""
    try:
        if hasattr(os, "nice"):  # background work: on a busy machine the kernel runs the host's loop first
            os.nice(10)
        artifact = build_artifact(
            request.files,
            request.catalogue,
            request.teams,
            display_root=request.display_root,
            revision=request.revision,
            run_inline_tests=request.run_inline_tests,
            allow_empty=request.allow_empty,
        )
        sender.send(("ok", artifact))
    except RuleSetError as exc:
        sender.send(("refused", exc))
    except BaseException as exc:  # reported to the host, which logs it and keeps its rule set
        sender.send(("crashed", f"failed: {type(exc).__name__}: {exc}"))
    finally:
        sender.close()
