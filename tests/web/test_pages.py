"""Every page has its security headers; the widget frame is only for pages the host accepts; static files carry
ETags and are revalidated."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.web.importmap import csp_hash

ALLOWED = "http://visitor.example"


def directives(csp: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in csp.split(";")) if part}


def inline_scripts(page: str) -> list[str]:
    return re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.DOTALL)


@pytest.mark.parametrize(("path", "ancestors"), [
    ("/", "'none'"),
    ("/setup", "'none'"),
    ("/demo", "'none'"),
    (f"/widget/frame?origin={ALLOWED}", ALLOWED),
])  # fmt: skip
async def test_each_page_has_a_strict_csp_and_the_security_headers(
    start_app: Callable[..., Any], path: str, ancestors: str
) -> None:
    client = await start_app("[web]\ndemo = true\n")
    response = await client.get(path)
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["frame-ancestors"] == ancestors
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    # the only inline script is the import map, allowed by its exact hash
    page = await response.text()
    allowed = set(csp["script-src"].split()) - {"'self'"}
    assert {csp_hash(script) for script in inline_scripts(page)} == allowed
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers either


async def test_the_frame_knows_its_embedding_origin_only_from_the_checked_query(
    start_app: Callable[..., Any],
) -> None:
    client = await start_app()
    page = await (await client.get(f"/widget/frame?origin={ALLOWED}&lang=zh")).text()
    assert f'data-parent-origin="{ALLOWED}"' in page and 'data-lang="zh"' in page
    assert 'data-lang=""' in await (await client.get(f"/widget/frame?origin={ALLOWED}&lang=xx")).text()


@pytest.mark.parametrize(("query", "status", "code"), [
    ("", 400, "bad_request"),
    ("?origin=http://evil.example", 403, "origin_not_allowed"),
    ("?origin=http://visitor.example/path", 400, "bad_request"),
    ("?origin=javascript:alert(1)", 400, "bad_request"),
    ('?origin=http://visitor.example"><script>', 400, "bad_request"),
])  # fmt: skip
async def test_the_frame_refuses_origins_the_host_does_not_accept(
    start_app: Callable[..., Any], query: str, status: int, code: str
) -> None:
    client = await start_app()
    response = await client.get(f"/widget/frame{query}")
    assert response.status == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    body = await response.json()
    assert body["error"]["code"] == code
    assert "origin" in body["error"]["message"]


async def test_without_allowed_origins_only_the_hosts_own_pages_may_embed_the_frame(
    start_app: Callable[..., Any],
) -> None:
    client = await start_app(environ={"KEFU_SERVER__ALLOWED_ORIGINS": "[]"})
    own = f"http://{client.server.host}:{client.server.port}"
    assert (await client.get(f"/widget/frame?origin={own}")).status == 200
    assert (await client.get(f"/widget/frame?origin={ALLOWED}")).status == 403


async def test_static_files_have_etags_and_answer_304_when_unchanged(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    first = await client.get("/static/console/main.js")
    assert first.status == 200
    assert first.content_type == "text/javascript"
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    etag = first.headers["ETag"]
    again = await client.get("/static/console/main.js", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
    assert (await client.get("/static/console/main.js", headers={"If-None-Match": '"other"'})).status == 200
    assert (await client.get("/static/vendor/preact/preact.mjs")).content_type == "text/javascript"
    assert (await client.get("/static/nothing.js")).status == 404
    assert (await client.get("/static/../app.py")).status == 404


async def test_widget_js_may_be_loaded_by_other_sites(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    response = await client.get("/widget.js")
    assert response.status == 200
    assert response.content_type == "text/javascript"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "ETag" in response.headers
    assert "import " not in await response.text()  # a classic script: it runs on pages without our import map


async def test_the_demo_is_served_only_when_asked_and_web_enabled_false_serves_no_page(
    start_app: Callable[..., Any],
) -> None:
    default = await start_app()
    assert (await default.get("/demo")).status == 404  # production configs leave it out
    assert (await default.get("/")).status == 200
    off = await start_app("[web]\nenabled = false\ndemo = true\n")
    for path in ("/", "/setup", "/demo", "/widget.js", f"/widget/frame?origin={ALLOWED}", "/static/console/main.js"):
        assert (await off.get(path)).status == 404, path
    assert (await off.get("/api/setup")).status == 200  # the APIs stay
