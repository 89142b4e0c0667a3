"""Bad input on a socket gets a documented error frame or close code, and never harms the host or other sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import CHAT


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json at all", "bad_json"),
        ("[1, 2, 3]", "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "send", "body": "no id"}', "bad_frame"),
        ('{"type": "send", "client_msg_id": "x", "body": ""}', "bad_frame"),
        ('{"type": "send", "client_msg_id": "x", "body": 42}', "bad_frame"),
        ('{"type": "read", "seq": 1}', "no_conversation"),
    ],
)
async def test_bad_visitor_frames_get_an_error_and_the_socket_stays(
    start_host: Callable[..., Any], raw: str, code: str
) -> None:
    host = await start_host()
    visitor = await host.visitor()
    await visitor.send_raw(raw)
    error = await visitor.expect("error")
    assert error["code"] == code and error["message"]
    ack = await visitor.say("still works")  # the same socket goes on
    assert ack["seq"] == 1


async def test_binary_frames_are_refused(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor()
    await visitor.ws.send_bytes(b"\x00\x01")
    assert (await visitor.expect("error"))["code"] == "bad_frame"


async def test_an_oversized_frame_closes_that_socket_with_1009_only(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    big, bystander = await host.visitor(), await host.visitor()
    await big.send({"type": "send", "client_msg_id": "big", "body": "x" * 20000})
    msg = await big.ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert big.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert (await bystander.say("unaffected"))["seq"] == 1


async def test_a_body_over_the_character_limit_is_an_error_frame(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_SERVER__MAX_FRAME_BYTES": "65536"})
    visitor = await host.visitor()
    await visitor.send({"type": "send", "client_msg_id": "long", "body": "y" * 9000})
    error = await visitor.expect("error")
    assert (error["code"], error["ref"]) == ("too_long", "long")


async def test_unauthenticated_sockets_are_refused_before_upgrading(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    for path, headers in [
        ("/ws/visitor", {}),
        ("/ws/visitor?token=forged.token", {}),
        ("/ws/agent", {}),
        ("/ws/agent", {"Authorization": "Bearer kfa_1_wrong"}),
        ("/ws/agent", {"Authorization": "Bearer nonsense"}),
    ]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await host.client.ws_connect(path, headers=headers)
        assert info.value.status == 401, path


async def test_a_wrong_agent_token_for_a_real_agent_is_refused(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.add_agent("alice")
    forged = token[: token.rindex("_") + 1] + "A" * 32
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await host.client.ws_connect("/ws/agent", headers={"Authorization": f"Bearer {forged}"})
    assert info.value.status == 401


async def test_a_foreign_origin_is_refused(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    token = await host.visitor_token()
    agent_token = await host.add_agent("alice")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await host.client.ws_connect(f"/ws/visitor?token={token}", headers={"Origin": "https://evil.example"})
    assert info.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await host.client.ws_connect("/ws/agent", headers={"Origin": "https://evil.example",
                                                            "Authorization": f"Bearer {agent_token}"})
    assert info.value.status == 403
    ok = await host.client.ws_connect(f"/ws/visitor?token={token}", headers={"Origin": "http://visitor.example"})
    await ok.close()


async def test_the_rate_limit_answers_with_an_error_and_stores_nothing(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__VISITOR_RATE": "0.5", "KEFU_CHAT__VISITOR_BURST": "3"})
    visitor = await host.visitor()
    for n in range(3):
        await visitor.say(f"burst {n}")
    await visitor.send({"type": "send", "client_msg_id": "one-too-many", "body": "spam"})
    error = await visitor.expect("error")
    assert (error["code"], error["ref"]) == ("rate_limited", "one-too-many")
    conversation_id = host.app[CHAT].service.live_by_customer[next(iter(host.app[CHAT].service.customers))]
    stored = await host.app[CHAT].service.repo.messages_after(conversation_id, 0, 10)
    assert [m.body for m in stored] == ["burst 0", "burst 1", "burst 2"]


async def test_agents_cannot_touch_conversations_they_do_not_hold(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    holder = await host.agent(await host.add_agent("holder", capacity=1))
    other = await host.agent(await host.add_agent("other", capacity=1))
    visitor = await host.visitor()
    cid = (await visitor.say("hi"))["conversation_id"]
    joined = await visitor.expect("agent_joined")
    intruder = other if joined["agent"] == "holder" else holder
    for frame in ({"type": "send", "conversation_id": cid, "client_msg_id": "x", "body": "hi"},
                  {"type": "close", "conversation_id": cid}, {"type": "transfer", "conversation_id": cid, "team": "vip"}):
        await intruder.send(frame)
        assert (await intruder.expect("error"))["code"] == "forbidden"


async def test_identity_needs_the_right_hash(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    wrong = await host.client.post("/api/visitor/sessions", json={"user_id": "u-42", "user_hash": "0" * 64})
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "identity_mismatch"
    right = await host.client.post(
        "/api/visitor/sessions", json={"user_id": "u-42", "user_hash": identity_hash("test-identity-secret", "u-42")}
    )
    assert right.status == 201


async def test_an_identified_customer_sees_their_history_on_another_device(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    proof = {"user_id": "u-7", "user_hash": identity_hash("test-identity-secret", "u-7")}
    laptop = await host.visitor(**proof)
    await laptop.say("from my laptop")
    phone = await host.visitor(**proof)
    replayed = await phone.expect("message")
    assert replayed["body"] == "from my laptop"
    stranger = await host.visitor()
    assert [f for f in await stranger.drain() if f["type"] == "message"] == []


async def test_the_visitor_api_answers_browsers_from_allowed_origins_only(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    preflight = {"Origin": "http://visitor.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    ok = await host.client.options("/api/visitor/sessions", headers=preflight)
    assert ok.status == 204
    assert ok.headers["Access-Control-Allow-Origin"] == "http://visitor.example"
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    refused = await host.client.options("/api/visitor/sessions", headers={**preflight, "Origin": "https://evil.example"})
    assert refused.status == 403
    made = await host.client.post("/api/visitor/sessions", headers={"Origin": "http://visitor.example"})
    assert made.status == 201 and made.headers["Access-Control-Allow-Origin"] == "http://visitor.example"
    foreign = await host.client.post("/api/visitor/sessions", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers  # the browser will not hand the token to that page
    admin = await host.client.get("/api/plugins", headers={"Origin": "http://visitor.example"})
    assert "Access-Control-Allow-Origin" not in admin.headers  # only the visitor API is open to pages


async def test_an_error_about_a_frame_names_it_wherever_the_error_was_raised(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("li"))
    await agent.send({"type": "send", "conversation_id": 999, "client_msg_id": "mine-1", "body": "hello"})
    error = await agent.expect("error")
    assert (error["code"], error["ref"]) == ("forbidden", "mine-1")
    await agent.send({"type": "action", "ref": "q1", "action": "erp.stock", "conversation_id": 999})
    error = await agent.expect("error")
    assert (error["code"], error["ref"]) == ("forbidden", "q1")
