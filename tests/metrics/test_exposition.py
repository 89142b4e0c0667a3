"""``GET /metrics``: admin-protected on the main listener, or open on a port of its own; every series labelled with
its node; every series exported is documented in docs/metrics.md and every documented one exported."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from kefu_host.config import Config
from kefu_host.keys import CONFIG, METRICS
from kefu_host.metrics.exposition import node_name
from tests.conftest import admin_headers, free_port
from tests.metrics.conftest import Scrape, scrape

DOCS = Path(__file__).resolve().parents[2] / "docs"


async def test_metrics_want_the_admin_token(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    refused = await host.client.get("/metrics")
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "unauthorized"
    wrong = await host.client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401
    answer = await host.client.get("/metrics", headers=admin_headers())
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    s = Scrape(await answer.text())
    assert s.nodes == {node_name(host.app[CONFIG])}  # every sample carries the node label
    assert "kefu_build_info" in s.families


async def test_an_admin_agent_signed_in_to_the_console_may_scrape(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    await host.add_agent("root", password="correct horse battery", admin=True)
    await host.add_agent("plain", password="correct horse battery")
    base = str(host.client.make_url("/"))
    # unsafe: the cookie jar keeps cookies of an IP address (the loopback test server) only when told to
    async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin, \
            aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        for session, name in ((admin, "root"), (other, "plain")):
            signed_in = await session.post("/api/agent/login", json={"name": name,
                                                                    "password": "correct horse battery"})
            assert signed_in.status == 200, await signed_in.text()
        assert (await admin.get("/metrics")).status == 200
        refused = await other.get("/metrics")
        assert refused.status == 403 and (await refused.json())["error"]["code"] == "not_admin"


async def test_metrics_on_a_port_of_their_own_need_no_token(start_host: Callable[..., Any]) -> None:
    port = free_port()  # metrics.port = 0 means the main listener, so the OS is asked for a free one
    host = await start_host(f"[metrics]\nport = {port}\n")
    assert (await host.client.get("/metrics", headers=admin_headers())).status == 404
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
            assert answer.status == 200
            s = Scrape(await answer.text())
    assert s.value("kefu_websocket_connections", kind="visitor") == 0


async def test_metrics_off_serve_nothing(start_host: Callable[..., Any]) -> None:
    host = await start_host("[metrics]\nenabled = false\n")
    assert not host.app[METRICS].enabled and host.app[METRICS].registry is None  # nothing counts anything
    assert (await host.client.get("/metrics", headers=admin_headers())).status == 404
    visitor = await host.visitor()
    await visitor.say("still works")


def test_the_node_label_is_the_cluster_node_id_when_configured() -> None:
    assert node_name(SimpleNamespace(cluster=SimpleNamespace(node_id="kefu-2"))) == "kefu-2"  # type: ignore[arg-type]
    assert re.fullmatch(r".+:\d+", node_name(Config()))


def _documented() -> set[str]:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M))


def _exported(s: Scrape) -> set[str]:
    """The names as the exposition writes them (a counter family ``x`` is the series ``x_total``)."""
    return {f"{name}_total" if family.type == "counter" else name for name, family in s.families.items()}


async def test_every_exported_metric_is_documented_and_every_documented_one_exported(
    start_host: Callable[..., Any],
) -> None:
    host = await start_host()
    visitor = await host.visitor()
    await visitor.say("hello")  # so the labelled series have children too
    s = await scrape(host.client)
    exported, documented = _exported(s), _documented()
    assert exported - documented == set(), "exported but not in docs/metrics.md"
    assert documented - exported == set(), "in docs/metrics.md but not exported"


def test_documented_names_follow_the_conventions() -> None:
    documented = _documented()
    assert len(documented) > 30
    for metric in documented:
        assert metric.startswith(("kefu_", "process_")), metric
        assert not re.search(r"_(ms|milliseconds|count|sum|bucket)$", metric), metric


def test_the_example_dashboard_queries_only_documented_series() -> None:
    dashboard = json.loads((DOCS / "grafana" / "kefu-host.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"\b(?:kefu|process)_[a-z_]+", e)}
    assert used and used - _documented() == set()
