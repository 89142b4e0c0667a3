"""Traces over HTTP: an inbound signed event continues its sender's trace through the hooks of every plugin and
the store; outbound webhooks and a plugin's calls to its ERP carry ``traceparent`` to the receiver."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from opentelemetry.trace import SpanKind

from kefu_host.testing.events import envelope
from tests.plugins.conftest import call
from tests.plugins.test_erp import ERP, ErpSimulator
from tests.plugins.test_erp import TOKEN as ERP_TOKEN
from tests.test_plugins import write_plugin
from tests.webhooks.conftest import SECRET as HOOK_SECRET
from tests.webhooks.conftest import Receiver, webhooks_toml

LISTENER = """
from kefu_host import hookimpl

heard = []

@hookimpl
async def kefu_event_received(event, customer):
    heard.append(event.id)
"""


def plugins(root: Path, *names: str) -> list[tuple[str, dict[str, Any]]]:
    root.mkdir(exist_ok=True)
    return [(str(write_plugin(root, name, LISTENER)), {}) for name in names]


async def test_an_inbound_event_continues_the_senders_trace(
    tmp_path: Path, start_traced: Callable[..., Any]
) -> None:
    # a sample ratio of 0: only the sender's "sampled" flag makes this trace recorded
    host = await start_traced(ratio=0.0, plugins=plugins(tmp_path / "plugins", "crm_sync", "audit"))
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    body, headers = _signed(envelope("user.profile_updated", {"uid": "u-7", "name": "Li"}))
    headers["traceparent"] = f"00-{trace_id}-{parent_id}-01"
    response = await host.client.post("/api/events", data=body, headers=headers)
    assert response.status == 200, await response.text()

    spans = host.spans.get_finished_spans()
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    (http,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert http.name == "POST /api/events"
    assert format(http.parent.span_id, "016x") == parent_id and http.parent.is_remote
    assert http.attributes["http.response.status_code"] == 200
    hooks = [s for s in spans if s.name == "hook kefu_event_received"]
    assert sorted(s.attributes["kefu.plugin"] for s in hooks) == ["audit", "crm_sync"]
    (store,) = [s for s in spans if s.name == "store record_events"]
    assert store.attributes["kefu.batch_size"] >= 1
    for child in (*hooks, store):
        assert child.parent.span_id == http.context.span_id


async def test_an_unsampled_sender_is_not_recorded_and_no_traceparent_at_ratio_0_either(
    start_traced: Callable[..., Any]
) -> None:
    host = await start_traced(ratio=0.0)
    body, headers = _signed(envelope("user.profile_updated", {"uid": "u-8", "name": "Li"}))
    headers["traceparent"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    assert (await host.client.post("/api/events", data=body, headers=headers)).status == 200
    body, headers = _signed(envelope("user.profile_updated", {"uid": "u-9", "name": "Li"}))
    assert (await host.client.post("/api/events", data=body, headers=headers)).status == 200
    assert host.spans.get_finished_spans() == ()


async def test_an_outbound_webhook_carries_traceparent(
    start_traced: Callable[..., Any], receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    receiver = await receivers()
    host = await start_traced(webhooks_toml({"crm": (receiver.url, HOOK_SECRET, ["conversation.created"])}))
    visitor = await host.visitor()
    await visitor.say("hello")
    (request,) = await receiver.wait_for(1)
    version, trace_id, parent_id, flags = request.headers["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    # the delivery's span ends once the host has read the receiver's answer, a moment after the receiver saw it
    spans = await _until(lambda: {format(s.context.span_id, "016x"): s for s in host.spans.get_finished_spans()
                                  if format(s.context.trace_id, "032x") == trace_id and s.name == "webhook deliver"
                                  or s.kind == SpanKind.CLIENT})
    client = spans[parent_id]  # the receiver's parent is the host's client span of that POST
    assert client.kind == SpanKind.CLIENT and client.name == "HTTP POST"
    assert client.attributes["url.full"] == receiver.url
    deliver = spans[format(client.parent.span_id, "016x")]
    assert deliver.name == "webhook deliver" and deliver.attributes["kefu.endpoint"] == "crm"


async def _until(found: Callable[[], dict[str, Any]], attempts: int = 250) -> dict[str, Any]:
    for _ in range(attempts):
        spans = found()
        if any(s.name == "webhook deliver" for s in spans.values()):
            return spans
        await asyncio.sleep(0.02)
    raise AssertionError("the delivery's span never ended")


def _signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    from kefu_host.testing.events import signed
    from tests.events.conftest import SECRET

    return signed(SECRET, payload)


class TracedErp(ErpSimulator):
    """The ERP simulator of the plugin's tests, noting the ``traceparent`` of every request."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.traceparents: list[str | None] = []

    def app(self) -> web.Application:
        app = super().app()

        @web.middleware
        async def note(request: web.Request, handler: Any) -> web.StreamResponse:
            self.traceparents.append(request.headers.get("traceparent"))
            return await handler(request)

        app.middlewares.append(note)
        return app


async def test_an_erp_call_of_an_agent_action_carries_the_frames_trace(
    start_traced: Callable[..., Any], aiohttp_server: Any
) -> None:
    erp = TracedErp(stock={"A1": {"available": 3}})
    server = await aiohttp_server(erp.app(), host="127.0.0.1")
    host = await start_traced(plugins=[(ERP, {"base_url": f"http://127.0.0.1:{server.port}", "token": ERP_TOKEN})])
    agent = await host.agent(await host.add_agent("alice"))
    assert (await call(agent, "erp.inventory", {"sku": "A1"}))["result"]["available"] == 3
    (traceparent,) = erp.traceparents
    assert traceparent is not None
    _, trace_id, parent_id, _ = traceparent.split("-")
    spans = {format(s.context.span_id, "016x"): s for s in host.spans.get_finished_spans()}
    client = spans[parent_id]
    assert client.name == "HTTP GET" and client.attributes["url.full"].endswith("/v1/stock/A1")
    frame = spans[format(client.parent.span_id, "016x")]
    assert frame.name == "ws agent action" and format(frame.context.trace_id, "032x") == trace_id
