"""SQLite WAL checkpoints off the commit path.

Left to itself, SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: that commit copies the
pages into the database file and waits for its fsync. On a slow disk that fsync alone has taken 400 ms, and every
caller of the group-commit writer waited behind it. Here the writer's connection never checkpoints
(``wal_autocheckpoint=0``); a thread with a connection of its own runs a PASSIVE checkpoint every ``interval``
seconds, which never blocks the writer, so each one copies a little.

A PASSIVE checkpoint cannot rewind the WAL while commits keep coming, so under sustained load the WAL grows. Once
it holds more than ``restart_frames`` pages, the thread runs a RESTART checkpoint: it waits (at most 100 ms,
holding new commits back meanwhile) for a gap between commits and for readers of old snapshots, copies what the
last PASSIVE left, and makes the next commit write the WAL from its start again, reusing the file's blocks
(appending to a growing file costs a journal commit per fsync). On close, a TRUNCATE leaves the WAL empty.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

import structlog

log = structlog.get_logger("kefu_host.store")

#: Seconds a RESTART checkpoint may hold commits back waiting for a gap.
RESTART_WAIT = 0.1


@dataclass(frozen=True)
class CheckpointResult:
    """What ``PRAGMA wal_checkpoint`` answered: whether it was blocked, WAL frames, frames copied to the database."""

    busy: bool
    wal_frames: int
    checkpointed: int


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite database at ``path`` from a thread of its own."""

    def __init__(
        self, path: str, *, interval: float = 0.2, restart_frames: int = 4000, busy_timeout: float = 10.0
    ) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        self.busy_timeout = busy_timeout
        self.checkpoints = 0
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None

    def start(self) -> None:
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # A pending RESTART holds new commits back while it waits for readers: never for long. If the gap does not
        # come within RESTART_WAIT, it gives up and the next round tries again.
        self._db.execute(f"PRAGMA busy_timeout={int(RESTART_WAIT * 1000)}")
        self._thread = threading.Thread(target=self._run, name="kefu-wal-checkpoint", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, then leave the WAL empty (the writer has finished by now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._db is not None:
            try:
                self._db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
                self.checkpoint("TRUNCATE")
            except sqlite3.Error as exc:
                log.warning("final WAL checkpoint failed", error=str(exc))
            self._db.close()
            self._db = None

    def checkpoint(self, mode: str = "PASSIVE") -> CheckpointResult:
        assert self._db is not None, "start() first"
        busy, frames, done = self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self.checkpoints += 1
        return CheckpointResult(bool(busy), frames, done)

    def run_once(self) -> CheckpointResult:
        """One round: PASSIVE, then RESTART if the WAL holds more than ``restart_frames`` pages."""
        result = self.checkpoint("PASSIVE")
        if result.wal_frames > self.restart_frames:
            result = self.checkpoint("RESTART")
            if not result.busy:
                self.restarts += 1
        return result

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:  # a locked or failing disk: try again next round, the data is safe in the WAL
                log.warning("WAL checkpoint failed", error=f"{type(exc).__name__}: {exc}")

