"""The rules HTTP API: status, manual reload that keeps the last good set, dry-run explanations."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import admin_headers
from tests.routing.conftest import ROUTING
from tests.rules.conftest import SHIPPED, VIP_TRUNCATED, shipped_with_vip_truncated


async def test_status_lists_the_active_set(start_host: Callable[..., Any], write_rules: Callable[..., Any]) -> None:
    write_rules()
    host = await start_host()
    assert (await host.client.get("/api/rules")).status == 401
    body = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    assert body["rules"] == 3 and body["last_error"] is None and len(body["revision"]) == 64
    assert [r["id"] for r in body["set"]["rules"]] == ["risk.words", "vip.ltv", "default.support"]


async def test_a_bad_reload_keeps_the_last_good_set_and_says_where(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host()
    before = (await (await host.client.get("/api/rules", headers=admin_headers())).json())["revision"]
    write_rules("rule broken.one priority 1\n  when customer.ltvv > 1\n  then tag \"x\"\nend\n", name="broken.rule")
    response = await host.client.post("/api/rules/reload", headers=admin_headers())
    assert response.status == 422
    body = await response.json()
    assert body["status"] == "failed"
    assert body["errors"][0]["location"].endswith("broken.rule:2:8")
    assert "did you mean customer.ltv?" in body["errors"][0]["message"]
    status = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    assert status["revision"] == before and "customer.ltvv" in status["last_error"]


async def test_a_reload_of_a_truncated_file_reports_that_file_first(
    start_host: Callable[..., Any], rules_dir: Path
) -> None:
    shutil.copytree(SHIPPED, rules_dir, dirs_exist_ok=True)
    host = await start_host(environ={"KEFU_RULES__WATCH": "false", "KEFU_RULES__RESCAN_INTERVAL": "0"})
    shipped_with_vip_truncated(rules_dir)
    response = await host.client.post("/api/rules/reload", headers=admin_headers())
    assert response.status == 422
    body = await response.json()
    location, message = VIP_TRUNCATED.split(": ", 1)
    assert [(e["location"], e["message"]) for e in body["errors"]] == [(f"{rules_dir}/{location}", message)]
    assert body["message"] == f"{rules_dir}/{VIP_TRUNCATED}"


async def test_the_guard_refuses_losing_the_default_rule_unless_forced(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host()
    write_rules(
        """
        group routing match first
        rule risk.words priority 900 in group routing
          when message.text contains "scam"
          then transfer "risk-control"
        end
        rule vip.ltv priority 500 in group routing
          when customer.ltv >= 10000
          then assign_team "vip"
        end
        """
    )
    refused = await host.client.post("/api/rules/reload", headers=admin_headers())
    assert refused.status == 422 and (await refused.json())["status"] == "refused"
    forced = await host.client.post("/api/rules/reload", headers=admin_headers(), json={"force": True})
    assert forced.status == 200 and (await forced.json())["status"] == "loaded"


async def test_explain_against_the_active_set_and_a_candidate(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host()
    facts = {"customer": {"ltv": 20000}, "message": {"text": "hello"}}
    active = await (await host.client.post("/api/rules/explain", headers=admin_headers(), json={"facts": facts})).json()
    assert active["decision"]["team"] == "vip" and active["decision"]["fired"] == ["vip.ltv"]
    vip_rule = next(r for r in active["rules"] if r["rule"] == "vip.ltv")
    assert vip_rule["fired"] is True

    candidate = {"routing.rule": "group routing match first\nrule default.all priority 1 in group routing\n"
                                 "  when true\n  then assign_team \"backup\"\nend\n"}
    dry = await (await host.client.post("/api/rules/explain", headers=admin_headers(),
                                        json={"facts": facts, "files": candidate})).json()
    assert dry["decision"]["team"] == "backup"
    still = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    assert still["rules"] == 3  # a dry run swaps nothing

    broken = await host.client.post("/api/rules/explain", headers=admin_headers(),
                                    json={"facts": facts, "files": {"routing.rule": "rule x priority 1\n  when\n"}})
    assert broken.status == 422
    assert (await broken.json())["error"]["errors"][0]["location"].startswith("routing.rule:")


async def test_force_must_be_a_boolean(start_host: Callable[..., Any], write_rules: Callable[..., Any]) -> None:
    write_rules()
    host = await start_host()
    for body in ({"force": "no"}, {"force": 1}, {"force": None}, ["force"]):
        response = await host.client.post("/api/rules/reload", headers=admin_headers(), json=body)
        assert response.status == 422 and (await response.json())["error"]["code"] == "invalid_body", body
    assert (await host.client.post("/api/rules/reload", headers=admin_headers(), json={"force": False})).status == 200


async def test_status_shows_the_active_revision_every_node_and_the_latest_publishes(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host("[cluster]\nnode_id = \"node-1\"\n")
    body = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    revision = body["revision"]
    assert body["node"] == "node-1" and body["files_revision"] == revision
    active = body["active"]
    assert (active["revision"], active["status"], active["trigger"], active["origin"]) == (
        revision, "accepted", "startup", "node-1")
    assert active["files"] == ["routing.rule"] and active["rules"] == 3
    [node] = body["nodes"]
    assert node["node"] == "node-1" and node["revision"] == revision and node["stale"] is False
    assert [r["revision"] for r in body["revisions"]] == [revision]


async def test_a_reload_based_on_a_revision_no_longer_active_is_a_conflict(
    start_host: Callable[..., Any], write_rules: Callable[..., Any]
) -> None:
    write_rules()
    host = await start_host(environ={"KEFU_RULES__WATCH": "false", "KEFU_RULES__RESCAN_INTERVAL": "0"})
    first = (await (await host.client.get("/api/rules", headers=admin_headers())).json())["revision"]
    write_rules(ROUTING.replace('assign_team "vip"', 'assign_team "backup"'))
    published = await host.client.post("/api/rules/reload", headers=admin_headers(), json={"parent": first})
    body = await published.json()
    assert published.status == 200 and body["status"] == "loaded" and body["revision_id"] == 2
    assert body["active"] == body["revision"]
    write_rules(ROUTING.replace('assign_team "vip"', 'assign_team "en-desk"'))
    stale = await host.client.post("/api/rules/reload", headers=admin_headers(), json={"parent": first})
    answer = await stale.json()
    assert stale.status == 409 and answer["status"] == "conflict" and answer["active"] == body["revision"]
    assert answer["message"].startswith(f"conflict: the active revision is now {body['revision'][:12]} (#2")
    status = await (await host.client.get("/api/rules", headers=admin_headers())).json()
    assert status["revision"] == body["revision"] and "conflict" in status["last_error"]


async def test_parent_must_be_a_revision_or_null(start_host: Callable[..., Any], write_rules: Callable[..., Any]) -> None:
    write_rules()
    host = await start_host()
    for parent in ("abc", 12, "A" * 64, ["x"]):
        response = await host.client.post("/api/rules/reload", headers=admin_headers(), json={"parent": parent})
        error = (await response.json())["error"]
        assert response.status == 422 and (error["code"], error["field"]) == ("invalid_body", "parent"), parent
    first_publish = await host.client.post("/api/rules/reload", headers=admin_headers(), json={"parent": None})
    assert first_publish.status == 200  # files unchanged: nothing to publish, so nothing conflicts
