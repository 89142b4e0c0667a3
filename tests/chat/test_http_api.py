"""Chat over HTTP: the credential is checked first and nobody but the admin learns whether an id exists; visitor
sessions, history and conversation pages refuse input the database cannot hold with a 4xx, on every database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import STORE
from kefu_host.store.models import Conversation, Customer
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


async def test_older_history_pages_back_from_before_seq_and_a_visitor_never_gets_notes(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url, environ={"KEFU_CHAT__VISITOR_BURST": "50"})
    token = await host.add_agent("alice")
    alice = await host.agent(token)
    visitor = await host.visitor()
    cid = (await visitor.say("m1"))["conversation_id"]
    await alice.expect("assigned")
    for n in range(2, 9):  # seqs 2..8, the even ones notes
        if n % 2:
            await visitor.say(f"m{n}")
        else:
            await alice.note(cid, f"note{n}")
    as_agent = {"Authorization": f"Bearer {token}"}
    as_visitor = {"Authorization": f"Bearer {visitor.token}"}  # type: ignore[attr-defined]
    path = f"/api/conversations/{cid}/messages"

    _, page = await answer(host, f"{path}?before_seq=8&limit=3", as_agent)
    assert [m["seq"] for m in page["messages"]] == [5, 6, 7] and page["more"] is True
    _, page = await answer(host, f"{path}?before_seq=5&limit=4", as_agent)
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3, 4] and page["more"] is False
    _, page = await answer(host, f"{path}?before_seq=9&limit=2", as_visitor)
    assert [m["body"] for m in page["messages"]] == ["m5", "m7"] and page["more"] is True
    _, page = await answer(host, f"{path}?before_seq=5&limit=10", as_visitor)
    assert [m["body"] for m in page["messages"]] == ["m1", "m3"] and page["more"] is False
    _, page = await answer(host, f"{path}?after_seq=0&limit=500", as_visitor)
    assert [m["kind"] for m in page["messages"]] == ["text"] * 4 and page["more"] is False
    _, page = await answer(host, f"{path}?after_seq=6&limit=1", as_agent)
    assert [m["seq"] for m in page["messages"]] == [7] and page["more"] is True


@pytest.mark.parametrize("query, problem", [
    ("before_seq=0", "before_seq: must be an integer from 1 to 2147483647"),
    ("before_seq=x", "before_seq: must be an integer from 1 to 2147483647"),
    ("limit=0", "limit: must be an integer from 1 to 2147483647"),
    ("after_seq=1&before_seq=5", "give after_seq or before_seq, not both"),
])
async def test_a_bad_history_query_is_refused_naming_the_parameter(
    start_host: Callable[..., Any], query: str, problem: str
) -> None:
    host = await start_host()
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    status, body = await answer(host, f"/api/conversations/{cid}/messages?{query}",
                                {"Authorization": f"Bearer {visitor.token}"})  # type: ignore[attr-defined]
    assert (status, body["error"]["code"]) == (400, "bad_request") and problem in body["error"]["message"]


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


async def _count(host: Any, model: Any) -> int:
    from sqlalchemy import func, select

    async with host.app[STORE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/conversations/{2**63}", "id"),
        (f"/api/conversations/{2**64}/messages", "id"),
        ("/api/conversations/²", "id"),
        ("/api/conversations/" + "9" * 5000, "id"),
        ("/api/conversations/0", "id"),
        ("/api/conversations/1/messages?after_seq=²", "after_seq"),
        (f"/api/conversations/1/messages?after_seq={2**63}", "after_seq"),
        ("/api/conversations/1/messages?after_seq=-1", "after_seq"),
        ("/api/conversations/1/messages?limit=-1", "limit"),
        ("/api/conversations/1/messages?limit=abc", "limit"),
        ("/api/conversations/1/messages?limit=" + "1" * 5000, "limit"),
    ],
)
async def test_ids_and_seqs_outside_what_the_database_holds_are_a_400(
    start_host: Callable[..., Any], db_url: str, path: str, field: str
) -> None:
    host = await start_host(db_url=db_url)
    visitor = await host.visitor()
    assert (await visitor.say("hi"))["conversation_id"] == 1  # the query is read once the conversation is found
    response = await host.client.get(path, headers=admin_headers())
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("bad_request", field)
    assert error["message"].startswith(f"{field}: must be an integer from ")


async def test_history_pages_hold_at_most_500_and_start_after_after_seq(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor()
    cid = (await visitor.say("one"))["conversation_id"]
    await visitor.say("two")
    page = await host.client.get(f"/api/conversations/{cid}/messages?after_seq=1&limit=100000",
                                 headers=admin_headers())
    assert page.status == 200
    assert [m["body"] for m in (await page.json())["messages"]] == ["two"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"user_id": "u-\x00"}, 422, "user_id"),
        ({"user_id": "u-1", "name": "Li\x00Lei"}, 422, "name"),
        ({"user_id": "u-1", "name": "李" * 256}, 422, "name"),
        ({"user_id": "u-1", "email": "a" * 256}, 422, "email"),
        ({"user_id": "u-1", "phone": 13800138000}, 422, "phone"),
        ({"user_id": "u-1", "avatar_url": "https://x.example/" + "a" * 1024}, 422, "avatar_url"),
        ({"user_id": "u-1", "user_hash": "é"}, 403, "user_hash"),
        ({"user_id": "u-1", "user_hash": "令" * 64}, 403, "user_hash"),
    ],
)
async def test_a_visitor_session_body_the_database_cannot_hold_is_refused_whole(
    start_host: Callable[..., Any], db_url: str, body: dict[str, Any], status: int, field: str
) -> None:
    host = await start_host(db_url=db_url)
    if "user_hash" not in body:
        body = {**body, "user_hash": identity_hash("test-identity-secret", body["user_id"])}
    response = await host.client.post("/api/visitor/sessions", json=body)
    assert response.status == status, await response.text()
    error = (await response.json())["error"]
    assert error["field"] == field and field in error["message"]
    assert await _count(host, Customer) == 0  # nothing half-made


@pytest.mark.parametrize("body, field", [({"name": {"first": "Li"}}, "name"), ({"email": 42}, "email"),
                                          ({"phone": "1" * 65}, "phone"), ({"user_hash": 1.5}, "user_hash")])
async def test_an_anonymous_visitor_session_with_a_bad_profile_field_is_refused(
    start_host: Callable[..., Any], body: dict[str, Any], field: str
) -> None:
    """Without user_id the profile is not stored, but a malformed field is still refused, never ignored."""
    host = await start_host()
    response = await host.client.post("/api/visitor/sessions", json=body)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_body", field)
    assert await _count(host, Customer) == 0


async def test_profile_fields_at_their_column_length_are_kept(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    body = {"user_id": "u-full", "user_hash": identity_hash("test-identity-secret", "u-full"), "name": "李" * 255,
            "email": "e" * 255, "phone": "1" * 64, "avatar_url": "a" * 1024}
    response = await host.client.post("/api/visitor/sessions", json=body)
    assert response.status == 201, await response.text()
    assert await _count(host, Customer) == 1 and await _count(host, Conversation) == 0
