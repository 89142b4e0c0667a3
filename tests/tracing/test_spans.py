"""Spans of the chat path (a frame, its rule decision, its store write, its hooks), their export over OTLP, and
nothing at all when tracing is off or the trace is not sampled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from kefu_host.keys import TRACING
from kefu_host.tracing import NO_SPAN, TRACING_OFF, Tracing
from tests.test_plugins import write_plugin
from tests.tracing.conftest import Collector

ECHO = """
from kefu_host import hookimpl

@hookimpl
async def kefu_message_received(conversation, message):
    return None
"""


def test_tracing_off_hands_out_no_spans() -> None:
    assert not TRACING_OFF.enabled
    assert TRACING_OFF.span("anything") is NO_SPAN
    assert TRACING_OFF.child("anything") is NO_SPAN
    assert TRACING_OFF.start_child("anything") is None
    with TRACING_OFF.span("anything") as span:
        assert span is None


def test_children_of_an_unsampled_trace_are_not_made() -> None:
    tracing = Tracing(TracerProvider(sampler=ALWAYS_OFF))
    with tracing.span("root") as root:
        assert root is not None and not root.is_recording()
        assert tracing.child("store") is NO_SPAN
        assert tracing.start_child("store") is None
    sampled = Tracing(TracerProvider(sampler=ALWAYS_ON))
    with sampled.span("root") as root:
        assert root is not None and root.is_recording()
        child = sampled.start_child("store")
        assert child is not None and child.is_recording()
        child.end()


async def test_a_host_without_tracing_has_no_tracing_middleware(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    assert client.app[TRACING] is TRACING_OFF
    assert len(client.app.middlewares) == 1
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert (await client.get("/livez", headers={"traceparent": traceparent})).status == 200


async def test_a_visitor_message_is_one_trace_from_frame_to_store(
    tmp_path: Path, start_traced: Callable[..., Any], collector: Collector
) -> None:
    (tmp_path / "plugins").mkdir()
    host = await start_traced(plugins=[(str(write_plugin(tmp_path / "plugins", "echo", ECHO)), {})])
    visitor = await host.visitor()
    await visitor.say("hello")
    await visitor.say("again")

    spans = host.spans.get_finished_spans()
    frames = [s for s in spans if s.name == "ws visitor send"]
    assert len(frames) == 2 and all(s.parent is None for s in frames)  # each frame is a trace of its own
    for frame in frames:
        below = [s for s in spans if s.parent is not None and s.parent.span_id == frame.context.span_id]
        names = sorted(s.name for s in below)
        assert "store append_messages" in names
        assert "rules decide" in names
        assert "hook kefu_message_received" in names
        (decide,) = [s for s in below if s.name == "rules decide"]
        assert decide.attributes["kefu.trigger"] in ("open", "message")
    # the upgrade request has no span of its own (its frames do); the session request does
    assert not [s for s in spans if s.name.startswith("GET /ws/")]
    assert [s for s in spans if s.name == "POST /api/visitor/sessions"]

    # and they reach the collector over OTLP/HTTP
    provider = host.app[TRACING].provider
    assert provider is not None
    await asyncio.to_thread(provider.force_flush)
    assert collector.span_names.count("ws visitor send") == 2
    assert "store append_messages" in collector.span_names
