"""Chat over HTTP: visitor sessions, history and conversation pages refuse bad input with a 4xx, on every database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import STORE
from kefu_host.store.models import Conversation, Customer
from tests.conftest import admin_headers


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


async def test_an_admin_asking_for_a_missing_conversation_gets_404(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    response = await host.client.get("/api/conversations/424242", headers=admin_headers())
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


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


async def test_profile_fields_at_their_column_length_are_kept(start_host: Callable[..., Any], db_url: str) -> None:
    host = await start_host(db_url=db_url)
    body = {"user_id": "u-full", "user_hash": identity_hash("test-identity-secret", "u-full"), "name": "李" * 255,
            "email": "e" * 255, "phone": "1" * 64, "avatar_url": "a" * 1024}
    response = await host.client.post("/api/visitor/sessions", json=body)
    assert response.status == 201, await response.text()
    assert await _count(host, Customer) == 1 and await _count(host, Conversation) == 0
