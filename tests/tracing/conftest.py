"""Tracing fixtures: a host with ``[tracing]`` on, its spans also kept in memory, and an OTLP collector on a
loopback socket (it stands in for the company's collector, outside the product) that decodes what it receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kefu_host.keys import TRACING
from tests.events.conftest import SOURCES, EventHost
from tests.webhooks.conftest import receivers  # noqa: F401 (a fixture these tests use too)


class Collector:
    """Accepts OTLP/HTTP trace exports and keeps the span names it got."""

    def __init__(self) -> None:
        self.url = ""
        self.span_names: list[str] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource_spans in message.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.span_names += [span.name for span in scope_spans.spans]
        self.arrived.set()
        return web.Response(body=b"", content_type="application/x-protobuf")


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    found = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", found.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}/v1/traces"
    yield found
    await runner.cleanup()


class TracedHost(EventHost):
    spans: InMemorySpanExporter


@pytest.fixture
def start_traced(collector: Collector, start_app: Callable[..., Any]) -> Callable[..., Any]:
    """``host = await start_traced(extra_toml, ratio=1.0)``: tracing on, exporting to the collector; ``host.spans``
    holds every span that ended (recorded ones only). The collector is set up first, so it outlives the host,
    whose shutdown flushes the last spans to it."""

    async def start(extra: str = "", *, ratio: float = 1.0, **kwargs: Any) -> TracedHost:
        tracing = f'\n[tracing]\nenabled = true\nsample_ratio = {ratio}\nendpoint = "{collector.url}"\n'
        host = TracedHost(await start_app(SOURCES + tracing + extra, **kwargs))
        host.spans = InMemorySpanExporter()
        provider = host.app[TRACING].provider
        assert provider is not None
        provider.add_span_processor(SimpleSpanProcessor(host.spans))
        return host

    return start
