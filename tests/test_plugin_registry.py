"""Per-hook counters: percentiles over a bounded ring of recent durations."""

from __future__ import annotations

from kefu_host.plugin_registry import SAMPLES, HookStats, PluginRecord, PluginRegistry


def test_percentiles_are_nearest_rank_over_the_kept_durations() -> None:
    stats = HookStats()
    assert stats.percentile(0.5) is None and stats.to_dict()["p50_ms"] is None
    for ms in range(1, 101):  # 1..100 ms
        stats.add(ms / 1000)
    assert stats.percentile(0.5) == 0.050
    assert stats.percentile(0.99) == 0.099
    assert stats.to_dict() == {"calls": 100, "failures": 0, "timeouts": 0, "p50_ms": 50.0, "p99_ms": 99.0}


def test_memory_stays_bounded_and_the_percentiles_follow_recent_calls() -> None:
    stats = HookStats()
    for _ in range(10 * SAMPLES):
        stats.add(1.0)  # a slow past
    for _ in range(SAMPLES):
        stats.add(0.001)  # a fast present
    assert len(stats.samples) == SAMPLES
    assert stats.calls == 11 * SAMPLES
    assert stats.percentile(0.99) == 0.001


def test_failures_and_timeouts_count_as_calls_with_their_duration() -> None:
    registry = PluginRegistry(default_timeout=1.0)
    registry.add(PluginRecord("p", "test", "test", "loaded"))
    registry.record_call("p", "kefu_startup", 0.002)
    registry.record_error("p", "kefu_startup", RuntimeError("boom"), 0.004)
    registry.record_timeout("p", "kefu_startup", 1.0)
    registry.record_error("p", "kefu_routes", TypeError("not a route"))  # a rejected contribution: no call
    record = registry.records["p"].to_dict()
    assert record["hook_stats"]["kefu_startup"] == {"calls": 3, "failures": 1, "timeouts": 1,
                                                    "p50_ms": 4.0, "p99_ms": 1000.0}
    assert record["hook_stats"]["kefu_routes"]["calls"] == 0
    assert (record["calls"], record["failures"]) == (3, 2)
    assert record["errors"] == {"kefu_startup": 1, "kefu_routes": 1}
    assert record["last_error"] == "kefu_routes: TypeError: not a route"
    registry.record_call("unknown", "kefu_startup", 0.1)  # a plugin registered outside the loader: ignored
    assert registry.enabled("unknown")
