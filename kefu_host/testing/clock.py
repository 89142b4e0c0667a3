"""A clock the routing rules read instead of the system's, so a test can say "it is Sunday, 3 a.m.".

Give it to ``create_app(config, clock=clock)`` (the ``kefu_app`` fixture does); the rules then take ``clock()``
for ``time.hour``, ``time.weekday`` and the waits (``conversation.wait_time``, ``queue.oldest_wait``).
"""

from __future__ import annotations

import datetime as dt


class FakeClock:
    """Follows the system clock until :meth:`set`; then stands still except when :meth:`advance` moves it."""

    def __init__(self) -> None:
        self._frozen: dt.datetime | None = None
        self._offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        if self._frozen is not None:
            return self._frozen
        return dt.datetime.now(dt.UTC) + self._offset

    def set(self, moment: dt.datetime | str) -> None:
        """Stop the clock at ``moment`` (aware, or an ISO string with an offset: ``2026-11-29T03:00+08:00``)."""
        when = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        if when.tzinfo is None:
            raise ValueError(f"give the moment with its time zone, got {moment!r}")
        self._frozen = when.astimezone(dt.UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (stopped or not)."""
        step = dt.timedelta(seconds=seconds)
        if self._frozen is not None:
            self._frozen += step
        else:
            self._offset += step
