"""Rules over HTTP (admin token): the active set and every node's, a publish of this node's files, and dry-run
explanations."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from kefu_host.http import admin_only, error_response, is_admin, json_response, read_json
from kefu_host.keys import CHAT, CONFIG, RULES, STORE
from kefu_host.routing import revisions
from kefu_host.routing.publisher import ACTIVE, _Unset
from kefu_host.routing.revisions import error_list as _error_list
from kefu_host.routing.staffing import unstaffed_teams
from kefu_host.rules import RuleSetError, facts_from_json
from kefu_host.rules.loader import read_snapshot

_REVISION = re.compile(r"[0-9a-f]{64}")
#: A node whose heartbeat is this many check intervals old is shown as stale.
_STALE_CHECKS = 3
_STATUS_CODES = {"loaded": 200, "unchanged": 200, "conflict": 409, "unavailable": 503}


@admin_only
async def rules_status(request: web.Request) -> web.Response:
    """This node's set (revision, load time, last error, every rule), the teams it sends chats to that no enabled
    agent belongs to, the cluster's active revision, what every node runs, and the latest publishes."""
    rules, store, config = request.app[RULES], request.app[STORE], request.app[CONFIG]
    current = rules.holder.current
    unstaffed = []
    if current is not None:
        found = await unstaffed_teams(store, current, config.chat.default_team)
        unstaffed = [item.to_dict() for item in found]
    active = await revisions.active(store)
    stale_after = _STALE_CHECKS * config.rules.check_interval
    return json_response({
        **rules.holder.status(),
        "node": rules.reloader.node_id,
        "files_revision": rules.reloader.files_revision,
        "teams_without_agents": unstaffed,
        "set": current.summary() if current else None,
        "active": active.to_dict() if active else None,
        "nodes": [node.to_dict(stale_after) for node in await revisions.nodes(store)],
        "revisions": [row.to_dict() for row in await revisions.recent(store)],
    })


@admin_only
async def reload_rules(request: web.Request) -> web.Response:
    """Publish this node's rules directory. ``{"force": true}`` skips the guard; ``{"parent": REV}`` publishes
    only if REV is still the active revision. 200 loaded or unchanged, 409 conflict, 422 failed or refused with
    the errors, 503 when the database cannot be reached."""
    body = await read_json(request, max_bytes=4096) if request.can_read_body else {}
    if not isinstance(body, dict):
        return error_response(422, "invalid_body", "body must be a JSON object")
    force = body.get("force", False)
    if not isinstance(force, bool):
        return error_response(422, "invalid_body", "force: must be true or false", field="force")
    parent: str | None | _Unset = body.get("parent", ACTIVE)
    if parent is not ACTIVE and not (parent is None or isinstance(parent, str) and _REVISION.fullmatch(parent)):
        return error_response(422, "invalid_body", "parent: must be a revision (64 hex digits) or null",
                              field="parent")
    outcome = await request.app[RULES].reloader.reload(force=force, trigger="api", parent=parent,
                                                        author=await _author(request))
    if outcome.status == "unavailable":
        return error_response(503, "store_unavailable", outcome.message)
    return json_response(
        {"status": outcome.status, "revision": outcome.revision, "previous_revision": outcome.previous_revision,
         "message": outcome.message, "errors": _error_list(outcome.errors), "revision_id": outcome.revision_id,
         "active": outcome.active},
        status=_STATUS_CODES.get(outcome.status, 422),
    )


async def _author(request: web.Request) -> str:
    """Who asks: the admin agent's name, or "admin token"."""
    if is_admin(request):
        return "admin token"
    agent = await request.config_dict[CHAT].auth.agent(request)
    return "admin token" if isinstance(agent, web.Response) else str(agent.name)


@admin_only
async def explain(request: web.Request) -> web.Response:
    """Dry run: ``{"facts": {...}}`` against the active set, or with ``"files": {"x.rule": "..."}`` against a
    candidate (the active directory with those files replaced or added). Nothing is stored or swapped."""
    body = await read_json(request, max_bytes=1024 * 1024)
    if not isinstance(body, dict):
        return error_response(422, "invalid_body", "body must be a JSON object")
    try:
        facts = facts_from_json(body.get("facts", {}))
    except ValueError as exc:
        return error_response(422, "invalid_facts", str(exc), field="facts")
    rules = request.app[RULES]
    candidate = body.get("files")
    if candidate is None:
        ruleset = rules.holder.current
        if ruleset is None:
            return error_response(503, "no_rules", "no rule set is loaded")
    else:
        if not isinstance(candidate, dict) or not all(isinstance(v, str) for v in candidate.values()):
            return error_response(422, "invalid_body", "files must map relative paths to file contents",
                                  field="files")
        try:
            files = dict((await asyncio.to_thread(read_snapshot, rules.reloader.directory)).files)
            files.update({path: text.encode() for path, text in candidate.items()})
            ruleset = (await rules.reloader.builder.build(files)).ruleset
        except RuleSetError as exc:
            return error_response(422, "invalid_rules", f"{len(exc.errors)} error(s)", errors=_error_list(exc.errors))
    # a thread: explaining walks every rule, which for thousands of them is not a step to take on the loop
    explanation = await asyncio.to_thread(ruleset.explain, facts)
    return json_response(explanation.to_dict())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/rules", rules_status)
    app.router.add_post("/api/rules/reload", reload_rules)
    app.router.add_post("/api/rules/explain", explain)
