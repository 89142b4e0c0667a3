"""History over HTTP: the credential is checked first, and nobody but the admin learns whether an id exists."""

from __future__ import annotations

from collections.abc import Callable
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
