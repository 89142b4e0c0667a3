"""``GET /metrics``: the app's metrics in the Prometheus text format, each series labelled with this node.

Several host processes behind one load balancer are scraped one by one; the ``node`` label (``cluster.node_id``
when the configuration has one, else ``hostname:pid``) keeps their series apart, so sums over nodes are right.
On the main listener the endpoint wants the admin token (or an admin agent); ``metrics.port`` serves it on a
listener of its own instead, without authentication.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from kefu_host.config import Config
from kefu_host.http import admin_denied
from kefu_host.keys import CONFIG, METRICS
from kefu_host.metrics.families import Metrics, MetricsOff
from kefu_host.metrics.state import StateCollector

log = structlog.get_logger("kefu_host.metrics")
METRICS_PATH = "/metrics"
EXPOSITION = web.AppKey("metrics_exposition", CollectorRegistry)


def node_name(config: Config) -> str:
    """``cluster.node_id`` if the configuration has one, else ``hostname:pid``."""
    node_id = getattr(getattr(config, "cluster", None), "node_id", "")
    return node_id if isinstance(node_id, str) and node_id else f"{socket.gethostname()}:{os.getpid()}"


class NodeLabelled:
    """Every sample of ``inner`` with ``node`` added to its labels (and no ``_created`` samples)."""

    def __init__(self, inner: CollectorRegistry, node: str) -> None:
        self.inner, self.node = inner, node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        for family in self.inner.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            # without the ``_created`` series of counters and histograms: a series per series that nobody graphs
            out.samples = [
                Sample(s.name, {"node": node, **s.labels}, s.value, s.timestamp, s.exemplar) for s in family.samples
                if not s.name.endswith("_created")
            ]
            yield out


def new_metrics(app: web.Application, config: Config) -> MetricsOff:
    """The app's metrics (off when ``metrics.enabled`` is false), with ``GET /metrics`` set up to serve them."""
    if not config.metrics.enabled:
        return MetricsOff()
    metrics = Metrics()
    assert metrics.registry is not None
    metrics.registry.register(StateCollector(app))
    ProcessCollector(registry=metrics.registry)
    exposition = CollectorRegistry(auto_describe=False)
    exposition.register(NodeLabelled(metrics.registry, node_name(config)))
    app[EXPOSITION] = exposition
    if config.metrics.port:
        app.cleanup_ctx.append(_own_listener)
    else:
        app.router.add_get(METRICS_PATH, _admin_metrics)
    return metrics


def _answer(registry: CollectorRegistry) -> web.Response:
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _admin_metrics(request: web.Request) -> web.Response:
    denied = await admin_denied(request)
    return denied if denied is not None else _answer(request.app[EXPOSITION])


async def _own_listener(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG].metrics
    registry = app[EXPOSITION]

    async def serve(request: web.Request) -> web.Response:
        return _answer(registry)

    listener = web.Application()
    listener.router.add_get(METRICS_PATH, serve)
    runner = web.AppRunner(listener, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    log.info("metrics listener started", url=f"http://{config.host}:{config.port}{METRICS_PATH}")
    yield
    await runner.cleanup()


__all__ = ["METRICS", "METRICS_PATH", "NodeLabelled", "new_metrics", "node_name"]
