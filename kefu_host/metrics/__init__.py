"""Prometheus metrics: what is counted (:mod:`.families`), what is read when scraped (:mod:`.state`), and
``GET /metrics`` (:mod:`.exposition`). docs/metrics.md lists every series."""

from kefu_host.metrics.families import NO_SOCKET_COUNTERS, Metrics, MetricsOff, SocketCounters

__all__ = ["NO_SOCKET_COUNTERS", "Metrics", "MetricsOff", "SocketCounters"]
