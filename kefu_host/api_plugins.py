"""``GET /api/plugins``: every plugin the host considered, its hooks, status and failures."""

from __future__ import annotations

from aiohttp import web

from kefu_host.http import admin_only, json_response
from kefu_host.keys import PLUGINS


@admin_only
async def list_plugins(request: web.Request) -> web.Response:
    return json_response({"plugins": request.app[PLUGINS].to_list()})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/plugins", list_plugins)
