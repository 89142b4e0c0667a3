"""History over HTTP: the credential is checked first, and nobody but the admin learns whether an id exists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import admin_headers


async def answer(host: Any, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    response = await host.client.get(path, headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("suffix", ["", "/messages"])
async def test_an_existing_and_a_missing_conversation_answer_alike_to_anyone_but_the_admin(
    start_host: Callable[..., Any], db_url: str, suffix: str
) -> None:
    host = await start_host(db_url=db_url)
    owner = await host.visitor()
    existing = (await owner.say("my card ends in 4242"))["conversation_id"]
    missing = existing + 1000
    stranger = await host.visitor_token()
    outsider = await host.add_agent("outsider", teams=("vip",))

    callers = {
        "no credential": {},
        "a forged token": {"Authorization": "Bearer forged.token.here"},
        "a wrong agent token": {"Authorization": "Bearer kfa_1_guess"},
        "another visitor": {"Authorization": f"Bearer {stranger}"},
        "an agent of another team": {"Authorization": f"Bearer {outsider}"},
    }
    for who, headers in callers.items():
        seen = await answer(host, f"/api/conversations/{existing}{suffix}", headers)
        unseen = await answer(host, f"/api/conversations/{missing}{suffix}", headers)
        as_text = (str(seen).replace(f"conversation {existing}", "conversation ID"),
                   str(unseen).replace(f"conversation {missing}", "conversation ID"))
        assert as_text[0] == as_text[1], who
        assert seen[0] in (401, 404), who

    status, body = await answer(host, f"/api/conversations/{missing}{suffix}", admin_headers())
    assert (status, body["error"]["code"]) == (404, "not_found")
    own = {"Authorization": f"Bearer {owner.token}"}
    status, body = await answer(host, f"/api/conversations/{existing}{suffix}", own)
    assert status == 200


async def test_agents_read_their_teams_conversations(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("alice")
    await host.agent(token)
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    status, body = await answer(host, f"/api/conversations/{cid}/messages", {"Authorization": f"Bearer {token}"})
    assert status == 200 and [m["body"] for m in body["messages"]] == ["hello"]


EXPLAINED_RULES = """
group routing match first

rule risk.words priority 900 in group routing
  when message.text contains "scam"
  then assign_team "risk-control"
end

rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


async def test_explain_shows_what_the_rules_decide_now_for_the_conversation_to_its_agent_and_admins(
    start_host: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "routing.rule").write_text(EXPLAINED_RULES, encoding="utf-8")
    host = await start_host()
    alice = await host.add_agent("alice", teams=("support", "risk-control"))
    colleague = await host.add_agent("colleague", teams=("risk-control",))  # its team, but not theirs
    admin_agent = await host.add_agent("root", teams=("vip",), admin=True)
    tab = await host.agent(alice)
    visitor = await host.visitor()
    cid = (await visitor.say("hello, is this a scam?"))["conversation_id"]
    await tab.expect("assigned")
    path = f"/api/conversations/{cid}/explain"

    status, body = await answer(host, path, {"Authorization": f"Bearer {alice}"})
    assert status == 200
    assert body["conversation_id"] == cid and body["message_seq"] == 1
    assert body["facts"]["message.text"] == "hello, is this a scam?"
    assert body["decision"]["fired"] == ["risk.words"] and body["decision"]["team"] == "risk-control"
    assert {r["rule"]: r["status"] for r in body["rules"]} == {"risk.words": "fired", "default.support": "skipped"}
    assert len(body["revision"]) == 64
    for headers in (admin_headers(), {"Authorization": f"Bearer {admin_agent}"}):
        assert (await answer(host, path, headers))[0] == 200

    for headers in ({"Authorization": f"Bearer {colleague}"}, {"Authorization": f"Bearer {visitor.token}"}):
        status, body = await answer(host, path, headers)
        assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await answer(host, path, {}))[0] == 401
    status, _ = await answer(host, f"/api/conversations/{cid + 99}/explain", {"Authorization": f"Bearer {alice}"})
    assert status == 404


async def test_an_admin_agent_reads_any_conversation(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    await host.agent(await host.add_agent("alice"))
    admin_agent = await host.add_agent("root", teams=("vip",), admin=True)
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    status, body = await answer(host, f"/api/conversations/{cid}/messages", {"Authorization": f"Bearer {admin_agent}"})
    assert status == 200 and [m["body"] for m in body["messages"]] == ["hello"]
    status, body = await answer(host, f"/api/conversations/{cid + 99}", {"Authorization": f"Bearer {admin_agent}"})
    assert (status, body["error"]["message"]) == (404, f"no conversation {cid + 99}")
