"""Rules over HTTP (admin token): the active set, a manual reload, and dry-run explanations."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kefu_host.http import admin_only, error_response, json_response, read_json
from kefu_host.keys import CONFIG, RULES, STORE
from kefu_host.routing.staffing import unstaffed_teams
from kefu_host.rules import RuleError, RuleSetError, facts_from_json
from kefu_host.rules.loader import read_snapshot


def _error_list(errors: tuple[RuleError, ...] | list[RuleError]) -> list[dict[str, Any]]:
    return [{"location": e.location, "message": e.message, "text": str(e)} for e in errors]


@admin_only
async def rules_status(request: web.Request) -> web.Response:
    """Revision, load time, last error, every rule of the active set, and the teams it sends chats to that no
    enabled agent belongs to (read from the store now: agents may have been added by another process)."""
    rules = request.app[RULES]
    current = rules.holder.current
    unstaffed = []
    if current is not None:
        found = await unstaffed_teams(request.app[STORE], current, request.app[CONFIG].chat.default_team)
        unstaffed = [item.to_dict() for item in found]
    summary = current.summary() if current else None
    return json_response({**rules.holder.status(), "teams_without_agents": unstaffed, "set": summary})


@admin_only
async def reload_rules(request: web.Request) -> web.Response:
    """``{"force": true}`` skips the guard. 200 when loaded or unchanged; 422 with the errors otherwise."""
    body = await read_json(request, max_bytes=4096) if request.can_read_body else {}
    if not isinstance(body, dict):
        return error_response(422, "invalid_body", "body must be a JSON object")
    force = body.get("force", False)
    if not isinstance(force, bool):
        return error_response(422, "invalid_body", "force: must be true or false", field="force")
    outcome = await request.app[RULES].reloader.reload(force=force, trigger="api")
    return json_response(
        {"status": outcome.status, "revision": outcome.revision, "previous_revision": outcome.previous_revision,
         "message": outcome.message, "errors": _error_list(outcome.errors)},
        status=200 if outcome.status in ("loaded", "unchanged") else 422,
    )


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
