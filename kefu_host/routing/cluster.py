"""One rule revision for every node: publish this node's files, run the database's active revision, report it.

:class:`ClusterReloader` is the host's :class:`~kefu_host.rules.RulesReloader`: the same file watcher, rescan,
SIGHUP and ``reload()``, but a changed directory is *published* (:mod:`.publisher`) instead of swapped in locally,
and what the node runs is the database's active revision. It learns of a new one by PostgreSQL NOTIFY
(:mod:`.notify`) and by a check every ``rules.check_interval`` (the only way on SQLite, where another process can
only be ``kefu-host rules publish``), and it writes a heartbeat row saying what it runs (:mod:`.revisions`).

At startup the database wins over the directory, unless the directory holds content that was never published:
that is an operator's change made while the node was down, and it is published like any other change. Content
published before (an older revision, or a refused one) is not published again: the node runs the active one.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import structlog

from kefu_host.routing import revisions
from kefu_host.routing.notify import listen
from kefu_host.routing.publisher import ACTIVE, Publisher, _Unset
from kefu_host.routing.revisions import CHANNEL, NodeReport
from kefu_host.rules import RuleError, RuleSet, RuleSetError, RuleSetHolder, RulesReloader
from kefu_host.rules.loader import Snapshot, read_snapshot, revision_of
from kefu_host.rules.offload import WorkerFailed
from kefu_host.rules.reloader import ReloadOutcome
from kefu_host.rules.schema import Catalogue
from kefu_host.store import Store, StoreUnavailable
from kefu_host.store.models import utcnow
from kefu_host.tasks import wait_event

log = structlog.get_logger("kefu_host.rules")

#: Triggers that run by themselves; they publish a directory only once per change of its content.
_AUTOMATIC = ("watch", "rescan")


def default_node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ClusterReloader(RulesReloader):
    """Publishes ``directory`` on change and keeps ``holder`` on the active revision of ``store``."""

    def __init__(
        self,
        holder: RuleSetHolder,
        directory: Path | str,
        catalogue: Catalogue | None = None,
        teams: Collection[str] | None = None,
        *,
        store: Store,
        node_id: str,
        check_interval: float = 5.0,
        publish_files: bool = True,
        keep_revisions: int = revisions.KEEP_REVISIONS,
        listen_dsn: str | None = None,
        **options: object,
    ) -> None:
        """``listen_dsn``: the PostgreSQL DSN to LISTEN on (None: periodic checks only). ``options`` are
        :class:`RulesReloader`'s."""
        super().__init__(holder, directory, catalogue, teams, **options)  # type: ignore[arg-type]
        self.store = store
        self.node_id = node_id
        self.check_interval = check_interval
        self.publish_files = publish_files
        self.listen_dsn = listen_dsn
        self.publisher = Publisher(store, self.builder, origin=node_id, keep=keep_revisions)
        #: The revision of the node's own directory when last read.
        self.files_revision: str | None = None
        #: Set once LISTEN is active (tests wait for it); on SQLite it stays unset.
        self.listening = asyncio.Event()
        self._handled: str | None = None  # the directory content last published (or refused, or conflicted)
        self._failed_active: str | None = None  # an active revision that did not build here: not retried
        self._wake = asyncio.Event()
        self._woken_by = "check"
        self._started_at = utcnow()

    # -- publishing this node's directory ------------------------------------------------------------------------

    async def reload(
        self,
        force: bool = False,
        trigger: str = "manual",
        *,
        parent: str | None | _Unset = ACTIVE,
        author: str = "files",
    ) -> ReloadOutcome:
        """Publish the directory if it changed; ``parent`` is the revision it replaces (default: the one this
        node runs). Never raises an error; ``unavailable`` when the database cannot be reached."""
        async with self._lock:
            try:
                return await self._publish_directory(force, trigger, parent, author)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                self._handled = None  # not a verdict: the next rescan tries again
                self.holder.record_failure(f"store unavailable: {exc}")
                log.error("rules_publish_failed", trigger=trigger, error=str(exc))
                return self._outcome("unavailable", trigger, None, f"store unavailable: {exc}")
            except Exception as exc:  # a bug must not take the host down with it; keep the running set
                log.exception("rules_reload_crashed", trigger=trigger, directory=str(self.directory))
                return self._failed(trigger, None, f"internal error: {exc!r}", ())

    async def _publish_directory(
        self, force: bool, trigger: str, parent: str | None | _Unset, author: str
    ) -> ReloadOutcome:
        current = self.holder.current
        running = current.revision if current else None
        try:
            snapshot = await asyncio.to_thread(read_snapshot, self.directory)
        except RuleSetError as exc:
            if not force and trigger == "rescan" and self.holder.last_error == exc.summary():
                return ReloadOutcome("failed", trigger, None, running, exc.summary(), exc.errors)
            return self._failed(trigger, None, exc.summary(), exc.errors)
        revision = self.files_revision = snapshot.revision
        if not force:
            if revision == running:
                return self._outcome("unchanged", trigger, revision, "content unchanged")
            if trigger in _AUTOMATIC and revision == self._handled:
                return self._outcome("unchanged", trigger, running, "directory unchanged since it was published")
            if revision == self._rejected:
                return self._outcome("unchanged", trigger, running, f"revision {revision[:12]} was already rejected")
        self._handled = revision
        return await self._publish(snapshot, trigger, running if isinstance(parent, _Unset) else parent, author,
                                   force)

    async def _publish(
        self, snapshot: Snapshot, trigger: str, parent: str | None, author: str, force: bool
    ) -> ReloadOutcome:
        published = await self.publisher.publish(
            snapshot, display_root=str(self.directory), trigger=trigger, author=author, parent=parent, force=force,
            previous=self.holder.current.revision if self.holder.current else None,
        )
        outcome = published.outcome
        if published.ruleset is not None:
            await self._swap(published.ruleset, trigger, outcome.revision_id)
            return outcome
        if outcome.status == "unchanged" and outcome.active != self._running():
            await self._load_active(trigger)  # the same content is already active: run it
        elif outcome.status in ("failed", "refused"):
            if outcome.revision_id is not None:  # a verdict on the files: not retried until they change
                self._rejected = snapshot.revision
            else:  # the worker crashed: the next rescan tries again
                self._handled = None
            self.holder.record_failure(outcome.message)
        elif outcome.status == "conflict":
            self.holder.record_failure(outcome.message)
            self._wake.set()  # the active revision moved: go and run it
        await self._heartbeat()
        return outcome

    # -- running the active revision -----------------------------------------------------------------------------

    async def start(self) -> ReloadOutcome:
        """The startup load: publish the directory if its content was never published, then run the active
        revision. Never raises an error; afterwards ``holder.current`` is None only when nothing could load."""
        async with self._lock:
            snapshot: Snapshot | None = None
            try:
                snapshot = await asyncio.to_thread(read_snapshot, self.directory)
                self.files_revision = self._handled = snapshot.revision
            except RuleSetError as exc:
                first = self._failed("startup", None, exc.summary(), exc.errors)
            active = await revisions.active(self.store)
            if snapshot is not None and self.publish_files and (
                active is None or (snapshot.revision != active.revision
                                   and not await revisions.known(self.store, snapshot.revision))
            ):
                first = await self._publish(snapshot, "startup", active.revision if active else None, "files", False)
                if self.holder.current is not None:
                    return first
            elif snapshot is not None and active is None:
                first = self._outcome("failed", "startup", None, "no active rule revision in the database and "
                                      "rules.publish_files is off: publish one with kefu-host rules publish")
            elif snapshot is not None and active is not None:
                if snapshot.revision != active.revision:
                    log.warning("rules_directory_not_active", directory=str(self.directory), files=snapshot.revision,
                                active=active.revision, hint="the database's active revision runs; publish the "
                                "directory (kefu-host rules publish) to make it active")
                first = self._outcome("unchanged", "startup", active.revision, "the active revision runs")
            if await revisions.active_hash(self.store) is None:
                return first
            loaded = await self._load_active("startup")
            if loaded.status == "loaded" and not first.ok:
                self.holder.record_failure(first.message)  # the directory's problem stays visible
                await self._heartbeat()
            return loaded

    async def check(self, trigger: str = "check") -> ReloadOutcome | None:
        """Run the active revision if this node runs another; None when there was nothing to do."""
        async with self._lock:
            active = await revisions.active_hash(self.store)
            if active is None or active == self._running() or active == self._failed_active:
                return None
            return await self._load_active(trigger)

    async def _load_active(self, trigger: str) -> ReloadOutcome:
        previous = self._running()
        row = await revisions.active(self.store)
        if row is None:
            return self._outcome("unchanged", trigger, previous, "no active revision")
        files = await revisions.files_of(self.store, row.revision)
        if revision_of(files) != row.revision:
            return self._load_failed(trigger, row.revision, f"the stored files of revision {row.revision[:12]} "
                                     "do not match its hash", ())
        try:
            # validated when it was published: its inline tests passed then
            built = await self.builder.build(files, display_root=str(self.directory), revision=row.revision,
                                             run_inline_tests=False)
        except RuleSetError as exc:
            return self._load_failed(trigger, row.revision, exc.summary(), exc.errors)
        except WorkerFailed as exc:
            return self._failed(trigger, row.revision, str(exc), ())  # retried at the next check
        await self._swap(built.ruleset, trigger, row.id, seconds=round(built.seconds, 4), built_in=built.where)
        return ReloadOutcome("loaded", trigger, row.revision, previous, f"loaded {len(built.ruleset.rules)} rules",
                             revision_id=row.id, active=row.revision)

    def _load_failed(
        self, trigger: str, revision: str, message: str, errors: tuple[RuleError, ...]
    ) -> ReloadOutcome:
        # Accepted where it was published, refused here: this node differs (plugins, teams). It keeps its set.
        self._failed_active = revision
        return self._failed(trigger, revision, f"the active revision {revision[:12]} does not load on node "
                            f"{self.node_id}: {message}", errors)

    async def _swap(self, ruleset: RuleSet, trigger: str, revision_id: int | None, **details: object) -> None:
        """Run ``ruleset``, report it in the heartbeat row, then tell ``on_swap`` and log it (so both mean the row
        says so too)."""
        previous = self._running()
        self.holder.swap(ruleset)
        self._rejected = self._failed_active = None
        await self._heartbeat()
        if self.on_swap is not None:
            self.on_swap(ruleset)
        log.info("rules_reloaded", trigger=trigger, revision=ruleset.revision, revision_id=revision_id,
                 previous_revision=previous, rules=len(ruleset.rules), node=self.node_id, **details)

    # -- the loops -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch the directory (when publishing it), follow the active revision and heartbeat, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            if self.publish_files:
                tasks.create_task(super().run())
            tasks.create_task(self._follow_loop())
            if self.listen_dsn is not None:
                tasks.create_task(listen(self.listen_dsn, CHANNEL, self._notified, self._listening))

    def _notified(self, payload: str) -> None:
        self._woken_by = "notify"
        self._wake.set()

    def _listening(self) -> None:
        self.listening.set()
        self._notified("")  # a publish may have happened while the connection was down

    async def _follow_loop(self) -> None:
        failing = False
        while True:
            await wait_event(self._wake, self.check_interval)
            self._wake.clear()
            trigger, self._woken_by = self._woken_by, "check"
            try:
                if await self.check(trigger) is None:
                    await self._heartbeat()
                if failing:
                    log.info("rules_check_recovered", node=self.node_id)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: keep running the set we have, try again later
                if not failing:
                    log.warning("rules_check_failed", node=self.node_id, error=f"{type(exc).__name__}: {exc}")
                failing = True

    async def _heartbeat(self) -> None:
        holder = self.holder
        report = NodeReport(
            self.node_id, self._running(), _when(holder.loaded_at), self.files_revision, holder.last_error,
            _when(holder.last_error_at), self._started_at,
        )
        try:
            await revisions.report(self.store, report)
        except StoreUnavailable as exc:
            log.warning("rules_heartbeat_failed", node=self.node_id, error=str(exc))

    async def leave(self) -> None:
        """Remove this node's heartbeat row (shutdown)."""
        try:
            await revisions.forget(self.store, self.node_id)
        except StoreUnavailable:
            pass  # the row goes stale and is forgotten later

    def _running(self) -> str | None:
        return self.holder.current.revision if self.holder.current else None

    def _outcome(self, status: str, trigger: str, revision: str | None, message: str) -> ReloadOutcome:
        return ReloadOutcome(status, trigger, revision, self._running(), message)  # type: ignore[arg-type]


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None
