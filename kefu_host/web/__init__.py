"""The web UI: the agent console, the embeddable visitor widget and a demo shop, served by the host itself.

Everything is static files plus three page templates; the browser libraries (Preact, htm) are vendored ES modules
(see :mod:`kefu_host.web.vendor`), so nothing is built at install time and nothing comes from a CDN.
The pages are clients of the public protocol (docs/protocol.md) like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kefu_host.keys import CONFIG, WEB
from kefu_host.web.assets import Asset, asset_response, load_assets
from kefu_host.web.importmap import import_map, load_manifest
from kefu_host.web.pages import Pages, console_page, demo_page, frame_page

#: widget.js runs on companies' pages (other origins); nothing else of ours should be loaded cross-origin.
WIDGET_HEADERS = {"Cross-Origin-Resource-Policy": "cross-origin"}


@dataclass(frozen=True, slots=True)
class WebUI:
    assets: dict[str, Asset]
    pages: Pages


def setup(app: web.Application) -> None:
    """Serve the pages unless ``web.enabled`` is off; ``/demo`` only with ``web.demo``."""
    config = app[CONFIG].web
    if not config.enabled:
        return
    app[WEB] = WebUI(load_assets(), Pages.load(import_map(load_manifest())))
    app.router.add_get("/", _console)
    app.router.add_get("/setup", _console)  # the console shows its setup form while the database has no agent
    if config.demo:
        app.router.add_get("/demo", _demo)
    app.router.add_get("/widget/frame", _frame)
    app.router.add_get("/widget.js", _widget)
    app.router.add_get("/static/{path:.+}", _static)


async def _console(request: web.Request) -> web.Response:
    return console_page(request.app[WEB].pages, request)


async def _demo(request: web.Request) -> web.Response:
    return demo_page(request.app[WEB].pages, request)


async def _frame(request: web.Request) -> web.Response:
    return frame_page(request.app[WEB].pages, request, request.app[CONFIG])


async def _widget(request: web.Request) -> web.Response:
    return asset_response(request, request.app[WEB].assets["widget.js"], WIDGET_HEADERS)


async def _static(request: web.Request) -> web.Response:
    asset = request.app[WEB].assets.get(request.match_info["path"])
    if asset is None:
        raise web.HTTPNotFound()
    return asset_response(request, asset)
