"""The OpenAPI document describes exactly the routes the app has, is a valid OpenAPI 3.1 document, and is served."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from openapi_spec_validator import validate

from kefu_host import openapi
from kefu_host.app import create_app
from kefu_host.config import Config
from kefu_host.openapi import Route, app_routes, build, route_mismatches
from tests.conftest import admin_headers

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ("ticket", "erp", "payments")
EVERYTHING_ON = """
[web]
enabled = true
demo = true
"""


def full_app(make_config: Callable[..., Config]) -> web.Application:
    """The app with every route it can have: the pages, /demo and the bundled plugins."""
    plugins = [(str(ROOT / "plugins" / name), {}) for name in BUNDLED]
    return create_app(make_config(EVERYTHING_ON), plugins=plugins, entry_points=False)


def where_to_describe(route: Route) -> str:
    if route.path.startswith("/plugins/"):
        name = route.path.split("/")[2]
        return f"the kefu_openapi hook of plugin {name} (its path without /plugins/{name})"
    return "paths() of the kefu_host/openapi module for its area (" + ", ".join(
        f"{name}.py" for name in openapi.MODULES) + ")"


def test_every_route_is_described_and_every_description_routed(make_config: Callable[..., Config]) -> None:
    app = full_app(make_config)
    undocumented, stale = route_mismatches(app)
    problems = [f"{r.method.upper()} {r.path} is routed but undocumented: add "
                f'"{r.path}": {{"{r.method}": operation(...)}} to {where_to_describe(r)}' for r in undocumented]
    problems += [f"{r.method.upper()} {r.path} is documented but the app has no such route: remove it from "
                 f"{where_to_describe(r)}" for r in stale]
    assert not problems, "\n".join(problems)


def test_the_check_sees_plugin_routes_and_the_pages(make_config: Callable[..., Config]) -> None:
    routes = app_routes(full_app(make_config))
    assert Route("get", "/plugins/ticket/tickets/{id}") in routes
    assert Route("get", "/static/{path}") in routes  # aiohttp's {path:.+} in OpenAPI form
    assert Route("get", "/demo") in routes
    assert not any(r.method == "head" for r in routes)


def test_an_undocumented_route_is_named(make_config: Callable[..., Config]) -> None:
    app = full_app(make_config)

    async def extra(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_post("/api/not-described/{id}", extra)
    undocumented, stale = route_mismatches(app)
    assert undocumented == [Route("post", "/api/not-described/{id}")]
    assert stale == []


def test_the_document_is_valid_openapi_3_1(make_config: Callable[..., Config]) -> None:
    document = build(full_app(make_config))
    assert document["openapi"] == "3.1.0"
    validate(json.loads(json.dumps(document)))  # plain JSON, as it is served


def test_every_operation_documents_the_error_shape_for_its_refusals(make_config: Callable[..., Config]) -> None:
    document = build(full_app(make_config))
    for path, item in document["paths"].items():
        for method, op in item.items():
            for status, answer in op["responses"].items():
                if 400 <= int(status) < 500:
                    schema = answer["content"]["application/json"]["schema"]
                    refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("oneOf", [])]
                    assert "#/components/schemas/Error" in refs, (method, path, status)


async def test_served_document_holds_only_what_this_app_routes(start_app: Callable[..., Any]) -> None:
    client = await start_app("[web]\ndemo = false\n")
    answer = await client.get("/api/openapi.json")
    assert answer.status == 200
    document = await answer.json()
    assert "/demo" not in document["paths"]
    assert "/livez" in document["paths"] and "/api/events" in document["paths"]
    assert document["components"]["securitySchemes"]["sessionCookie"]["in"] == "cookie"
    validate(document)  # with each event type's data schema in the event bodies
    one_of = document["paths"]["/api/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"order.paid", "user.login"} <= {choice["properties"]["type"]["const"] for choice in one_of["oneOf"]}
    # public: a client generator needs no credential to read it
    assert (await client.get("/api/openapi.json", headers=admin_headers())).status == 200


PLUGIN = '''
from aiohttp import web
from kefu_host.sdk import hookimpl, json_response


async def hello(request):
    return json_response({"hello": "world"})


@hookimpl
def kefu_routes():
    return [web.get("/hello", hello), web.post("/bye", hello)]


@hookimpl
def kefu_openapi():
    return {"/hello": {"get": {"summary": "Hello", "responses": {"200": {"description": "a greeting"}}}}}
'''


def test_a_plugin_describes_its_routes_under_its_prefix(make_config: Callable[..., Config], tmp_path: Path) -> None:
    source = tmp_path / "greeter.py"
    source.write_text(PLUGIN, encoding="utf-8")
    app = create_app(make_config(EVERYTHING_ON), plugins=[(str(source), {})], entry_points=False)
    undocumented, stale = route_mismatches(app)
    assert undocumented == [Route("post", "/plugins/greeter/bye")] and stale == []
    operation = build(app)["paths"]["/plugins/greeter/hello"]["get"]
    assert operation["tags"] == ["plugin:greeter"] and operation["summary"] == "Hello"
