"""Paths of the rules API (admin): the active set, a reload, a dry run."""

from __future__ import annotations

from kefu_host.openapi.components import ADMIN, Schema, errors, json_answer, json_body, obj, operation, ref

_RULE_ERRORS = {"type": "array", "items": obj(["location", "message"], location={"type": "string"},
                                               message={"type": "string"}, text={"type": "string"})}
_RELOAD = obj(["status", "revision"], status={"type": "string"}, revision={"type": ["string", "null"]},
              previous_revision={"type": ["string", "null"]}, message={"type": ["string", "null"]},
              errors=_RULE_ERRORS)


def paths() -> dict[str, Schema]:
    return {
        "/api/rules": {"get": operation(
            "The active rule set, its last error and the teams without agents",
            {"200": json_answer("status", obj(["revision", "teams_without_agents"],
                                              revision={"type": ["string", "null"]},
                                              teams_without_agents={"type": "array", "items": {"type": "object"}},
                                              set={"type": ["object", "null"]})),
             **errors(401, 403, 429)}, security=ADMIN, tags=["rules"])},
        "/api/rules/reload": {"post": operation(
            "Reload the rules directory now (`force` skips the guard against losing most rules)",
            {"200": json_answer("loaded or unchanged", _RELOAD),
             "422": json_answer("refused: the last good set stays (or the body is invalid)",
                                {"oneOf": [_RELOAD, ref("Error")]}),
             **errors(400, 401, 403, 413, 429)}, security=ADMIN, tags=["rules"],
            body=json_body(obj(force={"type": "boolean"}), required=False))},
        "/api/rules/explain": {"post": operation(
            "Dry run: facts against the active set, or against candidate files",
            {"200": json_answer("the explanation", ref("Explanation")),
             **errors(400, 401, 403, 413, 422, 429, 503)},
            security=ADMIN, tags=["rules"],
            body=json_body(obj(facts={"type": "object"},
                               files={"type": "object", "additionalProperties": {"type": "string"}})))},
    }
