"""What the host knows about each plugin: how it loaded, whether it is enabled, how its hooks behave.

Every hook call and agent action of a plugin is counted per hook (calls, failures, timeouts) with its duration in a
small ring of the latest :data:`SAMPLES` durations, from which ``GET /api/plugins`` reports p50 and p99. The ring
keeps memory bounded however long the host runs, and the percentiles describe recent behaviour, which is what an
operator deciding to disable a plugin wants to see.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["loaded", "failed", "blocked", "disabled"]

#: Durations kept per plugin and hook for the percentiles.
SAMPLES = 256


@dataclass
class HookStats:
    """Counts and recent durations of one plugin's implementation of one hook (or one agent action)."""

    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def add(self, seconds: float) -> None:
        self.calls += 1
        self.samples.append(seconds)

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the kept durations in seconds (nearest rank); None before any call."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return ordered[rank]

    def to_dict(self) -> dict[str, Any]:
        p50, p99 = self.percentile(0.5), self.percentile(0.99)
        return {
            "calls": self.calls,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "p50_ms": None if p50 is None else round(p50 * 1000, 3),
            "p99_ms": None if p99 is None else round(p99 * 1000, 3),
        }


@dataclass
class PluginRecord:
    """One plugin the host considered: its source, status, and how its hooks have behaved since it loaded."""

    name: str
    origin: str
    location: str
    status: Status
    reason: str | None = None
    required: bool = False
    hooks: list[str] = field(default_factory=list)
    hook_timeout: float = 5.0
    errors: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    #: per hook (``kefu_...``) or agent action (``action:erp.inventory``)
    stats: dict[str, HookStats] = field(default_factory=dict)
    #: the settings it was configured with (never shown: they may hold secrets)
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: registered with the plugin manager at startup (a plugin disabled at startup never is)
    registered: bool = False

    @property
    def enabled(self) -> bool:
        return self.status == "loaded"

    def stat(self, hook: str) -> HookStats:
        found = self.stats.get(hook)
        if found is None:
            found = self.stats[hook] = HookStats()
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "location": self.location,
            "status": self.status,
            "enabled": self.enabled,
            "reason": self.reason,
            "required": self.required,
            "hooks": self.hooks,
            "hook_timeout": self.hook_timeout,
            "calls": sum(s.calls for s in self.stats.values()),
            "failures": sum(s.failures for s in self.stats.values()),
            "timeouts": dict(self.timeouts),
            "errors": dict(self.errors),
            "last_error": self.last_error,
            "hook_stats": {hook: s.to_dict() for hook, s in sorted(self.stats.items())},
        }


class PluginRegistry:
    """Every plugin the host considered, by name; the hook caller and the agent actions report to it."""

    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = default_timeout
        self.records: dict[str, PluginRecord] = {}

    def add(self, record: PluginRecord) -> None:
        self.records[record.name] = record

    def hook_timeout(self, name: str) -> float:
        record = self.records.get(name)
        return record.hook_timeout if record else self.default_timeout

    def enabled(self, name: str) -> bool:
        record = self.records.get(name)
        return record is None or record.enabled  # a plugin registered outside the loader (tests) is enabled

    def stats_for(self, name: str, hook: str) -> HookStats | None:
        """The counters of plugin ``name``'s ``hook``, for a caller that keeps them; None for an unknown plugin."""
        record = self.records.get(name)
        return record.stat(hook) if record is not None else None

    def record_call(self, name: str, hook: str, seconds: float) -> None:
        record = self.records.get(name)
        if record is not None:
            record.stat(hook).add(seconds)

    def record_error(self, name: str, hook: str, exc: BaseException, seconds: float | None = None) -> None:
        """A failed call (``seconds`` given) or a rejected contribution of the plugin (no call to count)."""
        record = self.records.get(name)
        if record is not None:
            record.errors[hook] += 1
            stat = record.stat(hook)
            stat.failures += 1
            if seconds is not None:
                stat.add(seconds)
            record.last_error = f"{hook}: {type(exc).__name__}: {exc}"

    def record_timeout(self, name: str, hook: str, seconds: float | None = None) -> None:
        record = self.records.get(name)
        if record is not None:
            record.timeouts[hook] += 1
            stat = record.stat(hook)
            stat.timeouts += 1
            if seconds is not None:
                stat.add(seconds)
            record.last_error = f"{hook}: timed out after {record.hook_timeout:g}s"

    def loaded(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "loaded"]

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records.values()]
