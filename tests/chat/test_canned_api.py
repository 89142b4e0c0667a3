"""Canned replies over HTTP: personal ones are their agent's alone, a team's are shared by its agents and managed by
them and admins; bad input is a 422 naming the field, and nobody learns whether another's reply exists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import admin_headers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(host: Any, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    response = await host.client.request(method, path, headers=headers, json=body)
    return response.status, (await response.json() if response.status != 204 else None)


async def test_personal_and_team_replies_are_listed_for_whom_they_belong_to(
    start_host: Callable[..., Any], db_url: str
) -> None:
    host = await start_host(db_url=db_url)
    alice = bearer(await host.add_agent("alice", teams=("support",)))
    bob = bearer(await host.add_agent("bob", teams=("support", "vip")))
    carol = bearer(await host.add_agent("carol", teams=("vip",)))

    status, mine = await call(host, "POST", "/api/canned", alice, {"shortcut": "hi", "body": "您好，我是小爱"})
    assert status == 201
    assert mine["reply"] | {"id": 0, "updated_at": ""} == {"id": 0, "scope": "personal", "team": None,
                                                           "shortcut": "hi", "body": "您好，我是小爱", "updated_at": ""}
    status, shared = await call(host, "POST", "/api/canned", alice,
                                {"shortcut": "refund", "body": "Refunds take 3 days.", "team": "support"})
    assert status == 201 and shared["reply"]["scope"] == "team"
    status, _ = await call(host, "POST", "/api/canned", admin_headers(),
                           {"shortcut": "vip.hello", "body": "Welcome back!", "team": "vip"})
    assert status == 201

    async def shortcuts(who: dict[str, str]) -> list[str]:
        status, body = await call(host, "GET", "/api/canned", who)
        assert status == 200
        return [r["shortcut"] for r in body["replies"]]

    assert await shortcuts(alice) == ["hi", "refund"]  # personal first
    assert await shortcuts(bob) == ["refund", "vip.hello"]
    assert await shortcuts(carol) == ["vip.hello"]
    assert await shortcuts(admin_headers()) == ["refund", "vip.hello"]  # every team's; nobody's personal ones


async def test_who_may_change_which_reply(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = bearer(await host.add_agent("alice", teams=("support",)))
    bob = bearer(await host.add_agent("bob", teams=("support",)))
    carol = bearer(await host.add_agent("carol", teams=("vip",)))
    boss = bearer(await host.add_agent("boss", teams=("vip",), admin=True))
    _, personal = await call(host, "POST", "/api/canned", alice, {"shortcut": "sig", "body": "— Alice"})
    _, team = await call(host, "POST", "/api/canned", alice, {"shortcut": "wait", "body": "One moment.",
                                                              "team": "support"})
    personal_id, team_id = personal["reply"]["id"], team["reply"]["id"]

    # another agent's personal reply, or a team reply of another team, answers like one that does not exist
    for who, reply_id in ((bob, personal_id), (carol, team_id), (boss, personal_id)):
        seen = await call(host, "PUT", f"/api/canned/{reply_id}", who, {"body": "mine now"})
        unseen = await call(host, "PUT", f"/api/canned/{reply_id + 100}", who, {"body": "mine now"})
        assert seen[0] == unseen[0] == 404
        assert str(seen[1]).replace(str(reply_id), "N") == str(unseen[1]).replace(str(reply_id + 100), "N")

    status, body = await call(host, "PUT", f"/api/canned/{team_id}", bob, {"body": "Just a moment, please."})
    assert status == 200 and body["reply"]["body"] == "Just a moment, please." and body["reply"]["shortcut"] == "wait"
    status, body = await call(host, "PUT", f"/api/canned/{team_id}", boss, {"shortcut": "moment"})
    assert status == 200 and body["reply"]["shortcut"] == "moment"
    status, body = await call(host, "POST", "/api/canned", carol, {"shortcut": "x", "body": "y", "team": "support"})
    assert (status, body["error"]["code"], body["error"]["field"]) == (403, "not_in_team", "team")

    assert (await call(host, "DELETE", f"/api/canned/{personal_id}", bob, None))[0] == 404
    assert (await call(host, "DELETE", f"/api/canned/{personal_id}", alice, None))[0] == 204
    assert (await call(host, "DELETE", f"/api/canned/{personal_id}", alice, None))[0] == 404
    _, listed = await call(host, "GET", "/api/canned", alice)
    assert [r["shortcut"] for r in listed["replies"]] == ["moment"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "no shortcut"}, "shortcut"),
        ({"shortcut": "two words", "body": "x"}, "shortcut"),
        ({"shortcut": "a/b", "body": "x"}, "shortcut"),
        ({"shortcut": "s" * 65, "body": "x"}, "shortcut"),
        ({"shortcut": 5, "body": "x"}, "shortcut"),
        ({"shortcut": "ok"}, "body"),
        ({"shortcut": "ok", "body": "   "}, "body"),
        ({"shortcut": "ok", "body": "x" * 8001}, "body"),
        ({"shortcut": "ok", "body": "x", "team": "nobody"}, "team"),
        ({"shortcut": "ok", "body": "x", "colour": "red"}, "colour"),
        ({"shortcut": "ok", "body": "a\u0000b"}, "body"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    start_host: Callable[..., Any], body: dict[str, Any], field: str
) -> None:
    host = await start_host()
    alice = bearer(await host.add_agent("alice"))
    status, answer = await call(host, "POST", "/api/canned", alice, body)
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (422, "invalid_body", field)
    _, listed = await call(host, "GET", "/api/canned", alice)
    assert listed["replies"] == []


async def test_other_refusals(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    alice = bearer(await host.add_agent("alice"))
    assert (await call(host, "GET", "/api/canned", {}))[0] == 401
    assert (await call(host, "GET", "/api/canned", bearer("kfa_1_wrong")))[0] == 401
    status, body = await call(host, "POST", "/api/canned", admin_headers(), {"shortcut": "a", "body": "b"})
    assert (status, body["error"]["field"]) == (422, "team")  # the admin token has no personal replies
    _, made = await call(host, "POST", "/api/canned", alice, {"shortcut": "a", "body": "b"})
    path = f"/api/canned/{made['reply']['id']}"
    status, body = await call(host, "PUT", path, alice, {})
    assert (status, body["error"]["code"]) == (422, "invalid_body")
    status, body = await call(host, "PUT", path, alice, {"team": "vip"})  # a reply stays where it was made
    assert (status, body["error"]["field"]) == (422, "team")
    status, body = await call(host, "PUT", "/api/canned/not-a-number", alice, {"body": "x"})
    assert (status, body["error"]["code"]) == (400, "bad_request")
    response = await host.client.post("/api/canned", headers=alice, data=b"{not json")
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_json"
    status, body = await call(host, "POST", "/api/canned", alice, ["a", "list"])
    assert (status, body["error"]["code"]) == (422, "invalid_body")
