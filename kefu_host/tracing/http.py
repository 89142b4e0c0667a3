"""Spans for HTTP: one per request the host answers (continuing the caller's ``traceparent``), one per request it
sends with an aiohttp session (carrying ``traceparent`` to the receiver)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from kefu_host.http import Handler
from kefu_host.tracing.spans import PROPAGATOR, SpanKind, Tracing


def server_middleware(tracing: Tracing) -> Any:
    """A middleware giving each request a server span; WebSocket upgrades get none (each frame has its own)."""

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        attributes = {"http.request.method": request.method, "http.route": route, "url.path": request.path}
        with tracing.span(f"{request.method} {route}", kind=SpanKind.SERVER, context=PROPAGATOR.extract(
                request.headers), attributes=attributes) as span:
            response = await handler(request)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status)
                if response.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            return response

    return traced


def client_trace_configs(tracing: Tracing) -> list[aiohttp.TraceConfig]:
    """``trace_configs`` for an ``aiohttp.ClientSession``: a client span per request, ``traceparent`` sent with it.
    Empty when tracing is off."""
    if not tracing.enabled:
        return []

    async def start(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
        span = tracing.start(f"HTTP {params.method}", SpanKind.CLIENT, {
            "http.request.method": params.method, "url.full": str(params.url.with_query(None)),
            "server.address": params.url.host or ""})
        ctx.kefu_span = span
        if span is None:
            return
        PROPAGATOR.inject(params.headers, context=trace.set_span_in_context(span))

    async def end(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        span = getattr(ctx, "kefu_span", None)
        if span is not None:
            span.set_attribute("http.response.status_code", params.response.status)
            if params.response.status >= 400:
                span.set_status(Status(StatusCode.ERROR))
            span.end()

    async def failed(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        span = getattr(ctx, "kefu_span", None)
        if span is not None:
            span.record_exception(params.exception)
            span.set_status(Status(StatusCode.ERROR, type(params.exception).__name__))
            span.end()

    config = aiohttp.TraceConfig()
    config.on_request_start.append(start)
    config.on_request_end.append(end)
    config.on_request_exception.append(failed)
    return [config]
