"""What every HTTP request goes through (kefu_host.http): unreadable text refused at the door, one error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, RawAnswer, admin_headers, raw_request


async def raw(client: Any, target: bytes, headers: list[tuple[bytes, bytes]], method: str = "GET",
              body: bytes = b"") -> RawAnswer:
    return await raw_request((str(client.server.host), int(client.server.port)), method, target, headers, body)


@pytest.mark.parametrize(("name", "value"), [(b"Authorization", b"Bearer \xff\xfe"), (b"Origin", b"\xff"),
                                             (b"X-Request-Id", b"\xe9t\xe9"), (b"webhook-id", b"\xff")])
async def test_a_header_that_is_not_utf8_is_a_400_naming_it(
    start_app: Callable[..., Any], name: bytes, value: bytes
) -> None:
    client = await start_app()
    for target in (b"/api/plugins", b"/api/conversations/1", b"/ws/visitor", b"/api/events"):
        answer = await raw(client, target, [(name, value)])
        assert answer.status == 400, (target, answer)
        error = answer.json()["error"]
        assert error["code"] == "bad_request"
        assert error["message"].lower() == f"header {name.decode()} is not valid utf-8".lower()


async def test_a_non_ascii_admin_token_is_simply_wrong(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    for token in ("é", f"{ADMIN_TOKEN}é", "令牌"):
        response = await client.get("/api/plugins", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"
    assert (await client.get("/api/plugins", headers=admin_headers())).status == 200


@pytest.mark.parametrize("target", [b"/api/plugins?x=%00", b"/api/conversations/1%00", b"/readyz?a%00=1"])
async def test_nul_in_the_path_or_query_is_a_400(start_app: Callable[..., Any], target: bytes) -> None:
    client = await start_app()
    answer = await raw(client, target, [(b"Authorization", f"Bearer {ADMIN_TOKEN}".encode())])
    assert answer.status == 400 and answer.json()["error"]["code"] == "bad_request"
    assert "NUL" in answer.json()["error"]["message"]


async def test_aiohttp_refusals_carry_the_json_error_too(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    missing = await client.get("/no/such/path")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"
    wrong_method = await client.delete("/api/events")
    assert wrong_method.status == 405 and (await wrong_method.json())["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["Allow"]
    not_upgraded = await client.get("/ws/visitor", params={"token": (await _token(client))})
    assert not_upgraded.status == 400 and (await not_upgraded.json())["error"]["code"] == "bad_request"
    too_big = await client.post("/api/visitor/sessions", data=b"{" + b" " * 20000 + b"}",
                                headers={"Content-Type": "application/json"})
    assert too_big.status == 413 and (await too_big.json())["error"]["code"] == "too_large"
    for response in (missing, wrong_method, not_upgraded, too_big):
        assert response.headers["X-Request-Id"]


async def _token(client: Any) -> str:
    response = await client.post("/api/visitor/sessions")
    return str((await response.json())["token"])


async def test_nul_in_a_json_body_is_a_422_naming_the_field(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    response = await client.post("/api/rules/explain", headers=admin_headers(),
                                 json={"facts": {"message.text": "a\x00b"}})
    assert response.status == 422
    assert (await response.json())["error"] == {
        "code": "invalid_body", "message": "facts.message.text: must not contain U+0000 (NUL)",
        "field": "facts.message.text"}


async def test_a_json_body_nested_past_the_limit_is_a_422_naming_where(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    facts: Any = "deep"
    for _ in range(300):  # orjson reads this, and could not write it back in the explanation
        facts = [facts]
    response = await client.post("/api/rules/explain", headers=admin_headers(),
                                 json={"facts": {"customer.tags": facts}})
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "invalid_body" and error["field"].startswith("facts.customer.tags[0][0]")
    assert "nests deeper than 32 levels" in error["message"]


async def test_refusals_reach_the_page_that_asked(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    page = {"Origin": "http://visitor.example"}
    bad_query = await client.get("/api/conversations/²/messages", headers=page)
    not_json = await client.post("/api/visitor/sessions", data=b"{", headers={**page, "Content-Type": "application/json"})
    for response, code in ((bad_query, "bad_request"), (not_json, "invalid_json")):
        assert response.status == 400 and (await response.json())["error"]["code"] == code
        assert response.headers["Access-Control-Allow-Origin"] == "http://visitor.example"  # the widget can read why
        assert response.headers["X-Request-Id"]
