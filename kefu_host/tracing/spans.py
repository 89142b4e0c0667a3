"""OpenTelemetry spans for one app: its own tracer provider, and span helpers that cost nothing when tracing is off.

Each app has its own provider (never the global one: tests start many apps in one process). With tracing off
:data:`TRACING_OFF` hands out one shared do-nothing context manager, so the code paths call the helpers
unconditionally.

With it on, whether a new trace is recorded is decided here, before any span object exists: at random, with
``tracing.sample_ratio``. A trace that is not recorded costs one look at the current span and one random number;
the SDK's own ratio sampler would first build the span, its ids and its context, several microseconds a frame.
Under a parent (a caller's ``traceparent``, or a span of this host) the SDK's parent-based sampler follows the
parent. :meth:`Tracing.child` makes a span only under one that records.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import MutableMapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import CarrierT
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kefu_host import __version__
from kefu_host.config import TracingConfig

PROPAGATOR = TraceContextTextMapPropagator()
SpanKind = trace.SpanKind


class _NoSpan:
    """The one context manager tracing-off hands out: enters to None, never swallows an exception."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


NO_SPAN = _NoSpan()


class Tracing:
    """The app's tracer, or none (``tracer is None``: tracing is off)."""

    def __init__(self, provider: TracerProvider | None = None, ratio: float = 1.0) -> None:
        self.provider = provider
        self.tracer: trace.Tracer | None = provider.get_tracer("kefu_host", __version__) if provider else None
        #: the share of new traces recorded
        self.ratio = ratio

    def _new_trace_dropped(self, context: otel_context.Context | None) -> bool:
        """No parent to follow, and the dice say this new trace is not recorded."""
        return (self.ratio < 1.0 and not trace.get_current_span(context).get_span_context().is_valid
                and random.random() >= self.ratio)

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def span(
        self, name: str, *, kind: trace.SpanKind = SpanKind.INTERNAL, context: otel_context.Context | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> AbstractContextManager[trace.Span | None]:
        """A span made current for the block: a child of ``context`` (or of the current span), or a new trace
        (recorded with ``ratio``; else no span)."""
        if self.tracer is None or self._new_trace_dropped(context):
            return NO_SPAN
        return self.tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes,
                                                 record_exception=True, set_status_on_exception=True)

    def child(self, name: str, attributes: dict[str, Any] | None = None) -> AbstractContextManager[trace.Span | None]:
        """A span under the current one, only when that one is recorded (a sampled trace); else no span."""
        if self.tracer is None or not trace.get_current_span().is_recording():
            return NO_SPAN
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def recording(self) -> bool:
        """Whether the current span is recorded (tracing on, and this trace sampled)."""
        return self.tracer is not None and trace.get_current_span().is_recording()

    def start_child(self, name: str, attributes: dict[str, Any] | None = None) -> trace.Span | None:
        """A started span under the current, recorded one (the caller ends it), or None."""
        if self.tracer is None or not trace.get_current_span().is_recording():
            return None
        return self.tracer.start_span(name, attributes=attributes)

    def start(self, name: str, kind: trace.SpanKind, attributes: dict[str, Any]) -> trace.Span | None:
        """A started span under the current one (recorded or not, so its context still travels on), or a new trace
        as :meth:`span` decides; None when tracing is off or the new trace is not recorded. The caller ends it."""
        if self.tracer is None or self._new_trace_dropped(None):
            return None
        return self.tracer.start_span(name, kind=kind, attributes=attributes)

    async def shutdown(self) -> None:
        if self.provider is not None:  # flushes what the batch processor holds: a blocking export, off the loop
            await asyncio.to_thread(self.provider.shutdown)


TRACING_OFF = Tracing()


def new_tracing(config: TracingConfig) -> Tracing:
    """The app's tracing as configured: off, or a provider exporting over OTLP/HTTP to ``config.endpoint``."""
    if not config.enabled:
        return TRACING_OFF
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(
        resource=Resource.create({"service.name": config.service_name, "service.version": __version__}),
        sampler=ParentBased(ALWAYS_ON),  # new traces reach the SDK only once Tracing has decided to record them
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.endpoint)))
    return Tracing(provider, config.sample_ratio)


def extract(carrier: CarrierT) -> otel_context.Context:
    """The context a W3C ``traceparent`` (and ``tracestate``) in ``carrier`` names; empty when none is valid."""
    return PROPAGATOR.extract(carrier)


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current span's ``traceparent`` into outgoing ``headers`` (nothing when no span is current)."""
    PROPAGATOR.inject(headers)
