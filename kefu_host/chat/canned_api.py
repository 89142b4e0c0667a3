"""Canned replies over HTTP (docs/protocol.md, "Canned replies").

| endpoint | |
|---|---|
| ``GET /api/canned`` | the caller's own replies and its teams' (an admin: every team's) |
| ``POST /api/canned`` | ``{shortcut, body, team?}``: a personal reply, or with ``team`` a team's (201) |
| ``PUT /api/canned/{id}`` | ``{shortcut?, body?}``: change one (200) |
| ``DELETE /api/canned/{id}`` | delete one (204) |

Personal replies are their agent's only; a team's are managed by its agents and by admins. Anyone else gets the
same 404 for a reply that exists and one that does not.
"""

from __future__ import annotations

from aiohttp import web

from kefu_host.chat import canned
from kefu_host.chat.callers import Caller, agent_or_admin
from kefu_host.http import error_response, json_response, path_int, read_json
from kefu_host.inputs import ID_RANGE, BadInput
from kefu_host.keys import CONFIG, STORE
from kefu_host.store import StoreUnavailable

MAX_BODY = 64 * 1024


def _invalid(exc: BadInput) -> web.Response:
    if exc.field:
        return error_response(422, "invalid_body", str(exc), field=exc.field)
    return error_response(422, "invalid_body", exc.message)


def _may_manage(caller: Caller, reply: canned.Canned) -> bool:
    if reply.team is not None:
        return caller.in_team(reply.team)
    return caller.agent is not None and reply.agent_id == caller.agent.id


async def list_replies(request: web.Request) -> web.Response:
    caller = await agent_or_admin(request)
    if isinstance(caller, web.Response):
        return caller
    agent = caller.agent
    teams = None if caller.admin else agent.teams if agent is not None else ()
    replies = await canned.visible(request.app[STORE], agent.id if agent else None, teams)
    return json_response({"replies": [r.to_dict() for r in replies]})


async def create_reply(request: web.Request) -> web.Response:
    caller = await agent_or_admin(request)
    if isinstance(caller, web.Response):
        return caller
    data = await read_json(request, max_bytes=MAX_BODY)
    try:
        given = canned.parse_input(data, request.app[CONFIG].chat.teams, partial=False)
    except BadInput as exc:
        return _invalid(exc)
    if given.team is None and caller.agent is None:
        return error_response(422, "invalid_body", "the admin token has no personal replies: give a team",
                              field="team")
    if given.team is not None and not caller.in_team(given.team):
        return error_response(403, "not_in_team", f"only agents of {given.team} and admins manage its replies",
                              field="team")
    assert given.shortcut is not None and given.body is not None
    try:
        reply = await canned.create(request.app[STORE], team=given.team,
                                    agent_id=None if given.team is not None or caller.agent is None
                                    else caller.agent.id,
                                    shortcut=given.shortcut, body=given.body)
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "not stored; try again shortly")
    return json_response({"reply": reply.to_dict()}, status=201)


async def _managed(request: web.Request) -> tuple[Caller, canned.Canned] | web.Response:
    """The caller and the reply of the path, when the caller may manage it; else the answer (401, 404...)."""
    reply_id = path_int(request, "id", ID_RANGE)
    caller = await agent_or_admin(request)
    if isinstance(caller, web.Response):
        return caller
    reply = await canned.find(request.app[STORE], reply_id)
    if reply is None or not _may_manage(caller, reply):
        return error_response(404, "not_found", f"no canned reply {reply_id} that you may change")
    return caller, reply


async def update_reply(request: web.Request) -> web.Response:
    found = await _managed(request)
    if isinstance(found, web.Response):
        return found
    _, reply = found
    data = await read_json(request, max_bytes=MAX_BODY)
    try:
        given = canned.parse_input(data, request.app[CONFIG].chat.teams, partial=True)
    except BadInput as exc:
        return _invalid(exc)
    try:
        changed = await canned.change(request.app[STORE], reply, given)
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "not stored; try again shortly")
    return json_response({"reply": changed.to_dict()})


async def delete_reply(request: web.Request) -> web.Response:
    found = await _managed(request)
    if isinstance(found, web.Response):
        return found
    try:
        await canned.remove(request.app[STORE], found[1].id)
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "not deleted; try again shortly")
    return web.Response(status=204)


def routes(app: web.Application) -> None:
    app.router.add_get("/api/canned", list_replies)
    app.router.add_post("/api/canned", create_reply)
    app.router.add_put("/api/canned/{id}", update_reply)
    app.router.add_delete("/api/canned/{id}", delete_reply)

