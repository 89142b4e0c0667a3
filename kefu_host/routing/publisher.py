"""Publishing a rule set: validate it once, record the verdict, compare-and-set the cluster's active revision.

The node whose files changed, ``POST /api/rules/reload`` and ``kefu-host rules publish`` all come here. The set is
built (off the event loop: :class:`~kefu_host.rules.offload.RuleBuilder`), its inline tests run, and the guard
compares it with the active revision; then :func:`kefu_host.routing.revisions.record` stores it as accepted (and
active, if its parent still is) or refused with its located errors. Nodes never validate what they load again:
a refused revision never becomes active, so no node ever runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from kefu_host.routing import revisions
from kefu_host.routing.revisions import Candidate, Conflict, Revision, Verdict, error_list
from kefu_host.rules import RuleError, RuleSet, RuleSetError
from kefu_host.rules.loader import Snapshot
from kefu_host.rules.offload import RuleBuilder, WorkerFailed
from kefu_host.rules.reloader import ReloadOutcome, Status, guard
from kefu_host.store import Store

log = structlog.get_logger("kefu_host.rules")

#: Errors kept with a refused revision (its message counts them all): a broken set of thousands of rules could
#: otherwise put megabytes into every ``GET /api/rules``.
STORED_ERRORS = 100


class _Unset:
    """The parent was not given: the publish is based on whatever is active when it starts."""


ACTIVE = _Unset()


@dataclass(frozen=True)
class Published:
    """What a publish did (``outcome``), the set it built (when it built one that is now active), and its row."""

    outcome: ReloadOutcome
    ruleset: RuleSet | None = None
    record: Revision | None = None


class Publisher:
    """Publishes snapshots into one store, building them with one builder, on behalf of ``origin``; each publish
    keeps the active revision and the last ``keep`` (``rules.keep_revisions``)."""

    def __init__(self, store: Store, builder: RuleBuilder, origin: str,
                 keep: int = revisions.KEEP_REVISIONS) -> None:
        self.store = store
        self.builder = builder
        self.origin = origin
        self.keep = keep

    async def publish(
        self,
        snapshot: Snapshot,
        *,
        display_root: str,
        trigger: str,
        author: str,
        parent: str | None | _Unset = ACTIVE,
        force: bool = False,
        previous: str | None = None,
    ) -> Published:
        """Validate ``snapshot`` and make it active if ``parent`` (default: the active revision now) still is.

        ``force`` skips the guard. ``previous`` is what the caller runs, for the outcome. Raises
        :class:`~kefu_host.store.StoreUnavailable` when the database cannot be reached (nothing changed).
        """
        revision = snapshot.revision
        active = await revisions.active(self.store)
        active_hash = active.revision if active else None
        based_on = active_hash if isinstance(parent, _Unset) else parent

        def outcome(status: Status, message: str, *, errors: tuple[RuleError, ...] = (), revision_id: int | None = None,
                    now_active: str | None = active_hash) -> ReloadOutcome:
            return ReloadOutcome(status, trigger, revision, previous, message, errors, revision_id, now_active)

        if based_on != active_hash:
            return Published(outcome("conflict", str(Conflict(based_on, active))))
        if revision == active_hash:
            return Published(outcome("unchanged", "content unchanged: it is the active revision"))
        candidate = Candidate(revision, snapshot.files, display_root, trigger, author, self.origin, force)
        try:
            built = await self.builder.build(snapshot.files, display_root=display_root, revision=revision)
        except RuleSetError as exc:
            verdict = Verdict(False, exc.summary(), errors=tuple(error_list(exc.errors[:STORED_ERRORS])))
            row = await revisions.record(self.store, candidate, verdict, based_on, self.keep)
            log.error("rules_publish_refused", trigger=trigger, revision=revision, revision_id=row.id,
                      errors=[error.headline() for error in exc.errors])
            return Published(outcome("failed", exc.summary(), errors=exc.errors, revision_id=row.id), record=row)
        except WorkerFailed as exc:  # not the files' fault (memory?): no verdict, the next change tries again
            return Published(outcome("failed", str(exc)))
        ruleset = built.ruleset
        shape = Verdict(True, f"loaded {len(ruleset.rules)} rules", len(ruleset.rules), ruleset.rule_ids,
                        ruleset.default_rules)
        reason = guard(active, ruleset) if active is not None and not force else None
        if reason:
            refused = Verdict(False, f"refused: {reason}", shape.rules, shape.rule_ids, shape.default_rules)
            row = await revisions.record(self.store, candidate, refused, based_on, self.keep)
            log.error("rules_publish_refused", trigger=trigger, revision=revision, revision_id=row.id, reason=reason)
            return Published(outcome("refused", f"{reason}; publish with force to accept it", revision_id=row.id),
                             record=row)
        try:
            row = await revisions.record(self.store, candidate, shape, based_on, self.keep)
        except Conflict as exc:
            now = exc.active.revision if exc.active else None
            if now == revision:  # the same content won from elsewhere (every node saw the same files change)
                return Published(outcome("unchanged", "content unchanged: it is the active revision",
                                         now_active=now), ruleset)
            log.warning("rules_publish_conflict", trigger=trigger, revision=revision, parent=based_on, active=now)
            return Published(outcome("conflict", str(exc), now_active=now))
        log.info("rules_published", trigger=trigger, revision=revision, revision_id=row.id, parent=based_on,
                 author=author, origin=self.origin, rules=len(ruleset.rules), forced=force,
                 seconds=round(built.seconds, 4), built_in=built.where, build_pid=built.pid)
        return Published(outcome("loaded", shape.message, revision_id=row.id, now_active=revision), ruleset, row)
