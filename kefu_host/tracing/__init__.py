"""OpenTelemetry tracing, off unless ``[tracing] enabled``: spans (:mod:`.spans`) and HTTP in and out
(:mod:`.http`). docs/operations.md#tracing says which spans exist."""

from kefu_host.tracing.spans import NO_SPAN, TRACING_OFF, Tracing, extract, inject, new_tracing

__all__ = ["NO_SPAN", "TRACING_OFF", "Tracing", "extract", "inject", "new_tracing"]
