"""Hot reload: watch the rules directory, rebuild on change, swap one immutable RuleSet, keep the last good.

A reload reads a snapshot and skips the work when its revision is unchanged; otherwise it parses and
compiles off the event loop (:mod:`~kefu_host.rules.offload`: a worker process for big sets, a thread for
small ones), runs the guard (:func:`guard`), and swaps on the loop. Every failure keeps the
current set, is logged with its location and counted on the holder. The file watcher is backed by a
periodic content-hash rescan, because Kubernetes ConfigMaps update by swapping a symlink, which inotify
can miss.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog
from watchfiles import awatch

from kefu_host.rules.errors import RuleError, RuleSetError
from kefu_host.rules.loader import read_snapshot
from kefu_host.rules.offload import PROCESS_BYTES, RuleBuilder, WorkerFailed
from kefu_host.rules.ruleset import RuleSet
from kefu_host.rules.schema import Catalogue

_log = structlog.get_logger("kefu_host.rules")

Status = Literal["loaded", "unchanged", "refused", "failed", "conflict", "unavailable"]


class Shape(Protocol):
    """What the guard compares: a :class:`RuleSet`, or a stored revision's summary of one."""

    @property
    def rule_ids(self) -> frozenset[str]: ...

    @property
    def default_rules(self) -> tuple[str, ...]: ...


@dataclass
class RuleSetHolder:
    """The active rule set and the history of reloads. Readers take ``current`` once per decision."""

    current: RuleSet | None = None
    loaded_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    reloads: int = 0
    failures: int = 0

    def swap(self, ruleset: RuleSet) -> RuleSet | None:
        """Make ``ruleset`` current; returns the one it replaced."""
        previous, self.current = self.current, ruleset
        self.loaded_at = time.time()
        self.reloads += 1
        self.last_error = self.last_error_at = None
        return previous

    def record_failure(self, message: str) -> None:
        self.failures += 1
        self.last_error = message
        self.last_error_at = time.time()

    def status(self) -> dict[str, Any]:
        """JSON-ready state for ``/api/rules`` and metrics."""
        return {
            "revision": self.current.revision if self.current else None,
            "rules": len(self.current.rules) if self.current else 0,
            "loaded_at": self.loaded_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "reloads": self.reloads,
            "failures": self.failures,
        }


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload attempt did. ``message`` is one line; ``errors`` holds every load error."""

    status: Status
    trigger: str
    revision: str | None
    previous_revision: str | None
    message: str = ""
    errors: tuple[RuleError, ...] = field(default=())
    #: Set when the reload published to the database: the number of the revision it recorded (none for
    #: ``unchanged`` and ``conflict``), and the active revision after it.
    revision_id: int | None = None
    active: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "revision": self.revision,
            "previous_revision": self.previous_revision,
            "message": self.message,
            "errors": [error.to_dict() for error in self.errors],
            "revision_id": self.revision_id,
            "active": self.active,
        }


def guard(old: Shape, new: Shape) -> str | None:
    """Why ``new`` must not replace ``old`` without ``force``, or None.

    Refused: a set that lost every default rule (see :func:`~kefu_host.rules.ruleset.is_default_rule`),
    or one that lost more than half of the old set's rule ids; both look like a truncated or half-synced
    directory rather than an intended change.
    """
    if old.default_rules and not new.default_rules:
        return f"the new rule set has no default rule (the current one has {', '.join(old.default_rules)})"
    old_ids = old.rule_ids
    lost = old_ids - new.rule_ids
    if old_ids and len(lost) * 2 > len(old_ids):
        return f"the new rule set drops {len(lost)} of {len(old_ids)} rules"
    return None


class RulesReloader:
    """Reloads ``directory`` into ``holder`` on demand (:meth:`reload`) and on change (:meth:`run`)."""

    def __init__(
        self,
        holder: RuleSetHolder,
        directory: Path | str,
        catalogue: Catalogue | None = None,
        teams: Collection[str] | None = None,
        *,
        debounce: float = 0.2,
        rescan_interval: float = 10.0,
        watch: bool = True,
        process_bytes: int = PROCESS_BYTES,
        allow_empty: bool = False,
    ) -> None:
        """``process_bytes``: snapshots this large are built in a worker process (see :mod:`.offload`);
        ``allow_empty`` accepts a directory without any ``.rule`` file."""
        self.holder = holder
        self.directory = Path(directory)
        self.catalogue = catalogue or Catalogue.core()
        self.teams = teams
        self.builder = RuleBuilder(
            self.catalogue, teams, process_bytes=process_bytes, allow_empty=allow_empty
        )
        #: Called on the loop with each rule set a reload swapped in; it must not block (start a task).
        self.on_swap: Callable[[RuleSet], None] | None = None
        self.debounce = debounce
        self.rescan_interval = rescan_interval
        self.watch = watch
        #: Set once the file watcher is running (tests wait for it).
        self.watching = asyncio.Event()
        self._lock = asyncio.Lock()
        # A revision that failed or was refused is retried only when the files change again, or when forced.
        self._rejected: str | None = None

    async def reload(self, force: bool = False, trigger: str = "manual") -> ReloadOutcome:
        """Load the directory and swap it in if it changed and passes the guard. Never raises an error
        (cancellation still propagates); ``force`` reloads even unchanged content and skips the guard."""
        async with self._lock:
            try:
                return await self._reload(force, trigger)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not take the host down with it; keep the last good set
                _log.exception("rules_reload_crashed", trigger=trigger, directory=str(self.directory))
                return self._failed(trigger, None, f"internal error: {exc!r}", ())

    async def _reload(self, force: bool, trigger: str) -> ReloadOutcome:
        current = self.holder.current
        previous = current.revision if current else None
        try:
            snapshot = await asyncio.to_thread(read_snapshot, self.directory)
        except RuleSetError as exc:
            if not force and trigger == "rescan" and self.holder.last_error == exc.summary():
                # The directory is still unreadable: the error was logged and counted when it appeared.
                return ReloadOutcome("failed", trigger, None, previous, exc.summary(), exc.errors)
            return self._failed(trigger, None, exc.summary(), exc.errors)
        revision = snapshot.revision
        if not force and revision == previous:
            return ReloadOutcome("unchanged", trigger, revision, previous, "content unchanged")
        if not force and revision == self._rejected:
            return ReloadOutcome(
                "unchanged", trigger, previous, previous, f"revision {revision[:12]} was already rejected"
            )
        try:
            built = await self.builder.build(
                snapshot.files, display_root=str(self.directory), revision=revision
            )
        except RuleSetError as exc:
            self._rejected = revision
            return self._failed(trigger, revision, exc.summary(), exc.errors)
        except WorkerFailed as exc:  # not the files' fault (memory?): the next change or rescan tries again
            return self._failed(trigger, revision, str(exc), ())
        ruleset = built.ruleset
        if current is not None and not force:
            reason = guard(current, ruleset)
            if reason:
                self._rejected = revision
                self.holder.record_failure(f"refused revision {revision[:12]}: {reason}")
                _log.error("rules_reload_refused", trigger=trigger, revision=revision, reason=reason)
                return ReloadOutcome(
                    "refused", trigger, revision, previous, f"{reason}; reload with force to accept it"
                )
        self.holder.swap(ruleset)
        self._rejected = None
        if self.on_swap is not None:
            self.on_swap(ruleset)
        _log.info(
            "rules_reloaded",
            trigger=trigger,
            revision=revision,
            previous_revision=previous,
            rules=len(ruleset.rules),
            seconds=round(built.seconds, 4),
            built_in=built.where,
            build_pid=built.pid,
        )
        return ReloadOutcome("loaded", trigger, revision, previous, f"loaded {len(ruleset.rules)} rules")

    def _failed(
        self, trigger: str, revision: str | None, message: str, errors: tuple[RuleError, ...]
    ) -> ReloadOutcome:
        self.holder.record_failure(message)
        _log.error(
            "rules_reload_failed",
            trigger=trigger,
            revision=revision,
            error=message,
            errors=[error.headline() for error in errors],
        )
        current = self.holder.current
        previous = current.revision if current else None
        return ReloadOutcome("failed", trigger, revision, previous, message, errors)

    async def run(self) -> None:
        """Watch and rescan until cancelled. Call :meth:`reload` once first to load the initial set."""
        async with asyncio.TaskGroup() as tasks:
            if self.watch:
                tasks.create_task(self._watch_loop())
            if self.rescan_interval > 0:
                tasks.create_task(self._rescan_loop())

    async def _rescan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rescan_interval)
            await self.reload(trigger="rescan")

    async def _watch_loop(self) -> None:
        stop = asyncio.Event()
        try:
            while True:
                try:
                    self.watching.set()
                    async for _changes in awatch(
                        self.directory,
                        debounce=max(1, int(self.debounce * 1000)),
                        recursive=True,
                        stop_event=stop,
                    ):
                        await self.reload(trigger="watch")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # e.g. the directory vanished; the rescan keeps working meanwhile
                    self.watching.clear()
                    _log.warning("rules_watch_failed", directory=str(self.directory), error=repr(exc))
                await asyncio.sleep(self.rescan_interval)
        finally:
            stop.set()
            self.watching.clear()
