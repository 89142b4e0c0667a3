"""Bad input on a socket gets a documented error frame or close code, and never harms the host or other sockets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from kefu_host.chat.protocol import MAX_BODY_CHARS, MAX_CLIENT_MSG_ID, SEND_FRAME_BYTES
from kefu_host.chat.tokens import identity_hash
from kefu_host.config import ServerConfig
from kefu_host.keys import CHAT, STORE
from kefu_host.store.models import Conversation, Message


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
    await big.send_raw('{"type": "send", "client_msg_id": "big", "body": "' + "x" * 131_072 + '"}')
    msg = await big.ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert big.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert (await bystander.say("unaffected"))["seq"] == 1


#: Bodies at the documented limit of 8000 characters, sent as UTF-8 or with every character escaped as \uXXXX
#: (a character outside the BMP is then 12 bytes), beside the longest client_msg_id, escaped too.
AT_THE_LIMIT = [("长" * 8000, False), ("长" * 8000, True), ("💩" * 8000, True), ("长" * 5500, False)]


@pytest.mark.parametrize(("body", "escaped"), AT_THE_LIMIT)
async def test_a_send_frame_at_the_character_limits_is_stored_however_it_is_written(
    start_host: Callable[..., Any], body: str, escaped: bool
) -> None:
    host = await start_host()
    visitor = await host.visitor()
    client_msg_id = "编" * MAX_CLIENT_MSG_ID
    text = json.dumps({"type": "send", "client_msg_id": client_msg_id, "body": body}, ensure_ascii=escaped)
    await visitor.send_raw(text)
    ack = await visitor.expect("ack", client_msg_id=client_msg_id)
    stored = await host.app[CHAT].service.repo.messages_after(ack["conversation_id"], 0, 10)
    assert [m.body for m in stored] == [body]


async def test_one_character_past_the_limit_is_an_error_frame_not_a_close(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    visitor = await host.visitor()
    for name, body, client_msg_id in [("body", "💩" * (MAX_BODY_CHARS + 1), "long"),
                                      ("client_msg_id", "hi", "编" * (MAX_CLIENT_MSG_ID + 1))]:
        await visitor.send_raw(json.dumps({"type": "send", "client_msg_id": client_msg_id, "body": body}))
        error = await visitor.expect("error")
        assert error["code"] == "too_long" and f"'{name}'" in error["message"]
    assert (await visitor.say("the socket stays"))["seq"] == 1


def test_the_default_frame_limit_holds_a_send_frame_at_the_character_limits() -> None:
    worst = json.dumps({"type": "send", "conversation_id": 2**63 - 1, "client_msg_id": "💩" * MAX_CLIENT_MSG_ID,
                        "body": "💩" * MAX_BODY_CHARS})
    assert len(worst.encode()) <= SEND_FRAME_BYTES <= ServerConfig().max_frame_bytes


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "send", "client_msg_id": "c1", "body": "a\x00b"}, "body"),
        ({"type": "send", "client_msg_id": "c\x00", "body": "hi"}, "client_msg_id"),
        ({"type": "send", "client_msg_id": "c1", "body": "hi", "extra": {"k\x00": 1}}, "extra.k\\u0000"),
        ({"type": "typing\x00"}, "type"),
    ],
)
async def test_text_holding_nul_is_refused_before_anything_is_stored(
    start_host: Callable[..., Any], db_url: str, frame: dict[str, Any], field: str
) -> None:
    host = await start_host(db_url=db_url)
    visitor = await host.visitor()
    await visitor.send(frame)
    error = await visitor.expect("error")
    assert error["code"] == "bad_frame" and error["message"] == f"'{field}' must not contain U+0000 (NUL)"
    assert await _rows(host, Conversation) == 0 and await _rows(host, Message) == 0  # not even a queued conversation
    ack = await visitor.say("and then a clean message")  # the same socket goes on, and the message is routed
    assert ack["seq"] == 1 and await _rows(host, Message) == 1


async def _rows(host: Any, model: Any) -> int:
    async with host.app[STORE].read() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize("seq", [2**31, 2**63, 2**64 - 1, -1, 1.5, "1", True])
async def test_a_read_seq_outside_the_seq_range_is_an_error_frame(start_host: Callable[..., Any], seq: Any) -> None:
    host = await start_host()
    visitor = await host.visitor()
    await visitor.say("hi")
    await visitor.send({"type": "read", "seq": seq})
    error = await visitor.expect("error")
    assert error["code"] == "bad_frame" and error["message"] == "'seq' must be an integer from 0 to 2147483647"
    await visitor.send({"type": "read", "seq": 1.0})  # an integer written with a zero fraction is that integer
    await visitor.say("still open")


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
    await agent.send({"type": "action", "ref": "q1", "action": "erp.inventory", "conversation_id": 999})
    error = await agent.expect("error")
    assert (error["code"], error["ref"]) == ("forbidden", "q1")


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        ({"type": "transfer", "team": ["vip"]}, "bad_frame", "'team' must be a non-empty string"),
        ({"type": "transfer", "agent": {"name": "bob"}}, "bad_frame", "'agent' must be a non-empty string"),
        ({"type": "transfer", "team": "v" * 101}, "too_long", "'team' is longer than 100 characters"),
        ({"type": "read", "seq": 2**63}, "bad_frame", "'seq' must be an integer from 0 to 2147483647"),
    ],
)
async def test_agent_frames_with_fields_of_the_wrong_kind_get_an_error_frame(
    start_host: Callable[..., Any], frame: dict[str, Any], code: str, message: str
) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("alice"))
    visitor = await host.visitor()
    cid = (await visitor.say("hi"))["conversation_id"]
    await agent.expect("assigned")
    await agent.send({**frame, "conversation_id": cid})
    error = await agent.expect("error")
    assert (error["code"], error["message"]) == (code, message)
    assert (await agent.say(cid, "the socket stays"))["seq"] == 2


@pytest.mark.parametrize("cid", [2**63, 2**64 - 1, 0, -5, "12", 1.5])
async def test_a_conversation_id_that_can_be_no_id_is_a_bad_frame(start_host: Callable[..., Any], cid: Any) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("alice"))
    await agent.send({"type": "typing", "conversation_id": cid})
    error = await agent.expect("error")
    assert (error["code"], error["message"]) == (
        "bad_frame", f"'conversation_id' must be an integer from 1 to {2**63 - 1}")


async def test_a_frame_nested_past_the_limit_is_an_error_frame(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("alice"))
    args: Any = {}
    for _ in range(300):
        args = {"k": args}
    await agent.send_raw(json.dumps({"type": "action", "ref": "r1", "action": "x.y", "args": args}))
    error = await agent.expect("error")
    assert error["code"] == "bad_frame" and "nests deeper than 32 levels" in error["message"]
    await agent.send({"type": "ping"})
    await agent.expect("pong")
