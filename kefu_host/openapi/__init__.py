"""The HTTP API as an OpenAPI 3.1 document, served at ``GET /api/openapi.json``.

The host's paths are described in small modules next to each other (:mod:`.core`, :mod:`.chat`, :mod:`.console`,
:mod:`.admin`, :mod:`.events`); plugins describe theirs with the ``kefu_openapi`` hook. The served document holds
the operations this app really routes (``/demo`` only with ``web.demo``, the pages only with ``web.enabled``,
``/metrics`` only on the main listener); :func:`route_mismatches` says which routes lack a description and which
descriptions lack a route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from kefu_host import __version__
from kefu_host.http import json_response
from kefu_host.keys import EVENTS, HOOKS, PLUGINS
from kefu_host.openapi import admin, chat, console, core, events
from kefu_host.openapi.components import components

log = structlog.get_logger("kefu_host.openapi")
OPENAPI = web.AppKey("openapi", dict)
METHODS = ("get", "put", "post", "delete", "patch", "options")
#: Where each of the host's paths is described, for the message that asks for a missing one.
MODULES = {"core": core, "chat": chat, "console": console, "admin": admin, "events": events}
_PATTERN = re.compile(r"\{(\w+):[^}]*\}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # lower case, as OpenAPI writes it
    path: str  # OpenAPI form: ``/static/{path}``, not aiohttp's ``{path:.+}``


def app_routes(app: web.Application) -> set[Route]:
    """Every method and path the app (its plugins' sub-applications included) answers; HEAD is aiohttp's echo of
    GET and ``*`` routes are not API operations."""
    found: set[Route] = set()
    for route in _routes(app):
        method = route.method.lower()
        if method in METHODS:
            found.add(Route(method, _PATTERN.sub(r"{\1}", route.resource.canonical)))
    return found


def _routes(app: web.Application) -> Iterator[web.AbstractRoute]:
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from _routes(resource._app)
        else:
            yield from resource


def described(app: web.Application) -> dict[str, dict[str, Any]]:
    """Every path item: the host's (whether routed in this app or not) and each loaded plugin's, prefixed. Once
    started, the events' bodies name every event type the host accepts."""
    paths: dict[str, dict[str, Any]] = {}
    for module in MODULES.values():
        paths.update(module.paths())
    runtime = app.get(EVENTS)
    if runtime is not None:
        paths.update(events.paths(runtime.types.values()))
    loaded = {record.name for record in app[PLUGINS].loaded()}
    for contribution in app[HOOKS].call_sync("kefu_openapi"):
        if contribution.plugin not in loaded or not isinstance(contribution.value, Mapping):
            continue
        for path, item in contribution.value.items():
            tagged = {m: {"tags": [f"plugin:{contribution.plugin}"], **op} for m, op in item.items()}
            paths[f"/plugins/{contribution.plugin}/{path.lstrip('/')}"] = tagged
    return paths


def route_mismatches(app: web.Application) -> tuple[list[Route], list[Route]]:
    """(routes nobody described, described operations the app does not route), each sorted."""
    routes = app_routes(app)
    documented = {Route(m, p) for p, item in described(app).items() for m in item if m in METHODS}
    return sorted(routes - documented, key=_key), sorted(documented - routes, key=_key)


def _key(route: Route) -> tuple[str, str]:
    return route.path, route.method


def build(app: web.Application) -> dict[str, Any]:
    """The document for this app: only the operations it routes."""
    routes = app_routes(app)
    paths = {}
    for path, item in sorted(described(app).items()):
        kept = {m: op for m, op in item.items() if m not in METHODS or Route(m, path) in routes}
        if any(m in METHODS for m in kept):
            paths[path] = kept
    return {
        "openapi": "3.1.0",
        "info": {"title": "kefu-host", "version": __version__,
                 "description": "Every refusal is a 4xx with `{\"error\": {\"code\", \"message\", \"field\"?}}`."},
        "security": [{"adminToken": []}],
        "paths": paths,
        "components": components(),
    }


async def openapi_document(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def _build_on_startup(app: web.Application) -> None:
    app[OPENAPI] = build(app)


def setup(app: web.Application) -> None:
    """Serve the document; built when the app starts, so every route (the plugins' included) is in place."""
    app.router.add_get("/api/openapi.json", openapi_document)
    app.on_startup.append(_build_on_startup)
