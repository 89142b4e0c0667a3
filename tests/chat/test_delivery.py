"""Delivery: ordered, no gaps, slow sockets cut loose without slowing anyone, explicit resync, ephemeral frames."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

from kefu_host import hookimpl
from kefu_host.keys import PLUGIN_MANAGER

COUNT = 150


async def test_a_slow_tab_is_closed_with_4008_while_a_fast_tab_gets_everything(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__SEND_QUEUE_SIZE": "16",
                                     "KEFU_SERVER__SOCKET_SEND_BUFFER": "65536"})
    agent = await host.agent(await host.add_agent("chatty"))
    fast = await host.visitor()
    cid = (await fast.say("hi"))["conversation_id"]
    await agent.expect("assigned")
    # a second tab of the same visitor that stops reading after the handshake, with a tiny receive buffer so the
    # kernel cannot soak up what it does not read
    slow = await RawSocket.connect(host.client.port, f"/ws/visitor?token={fast.token}")  # type: ignore[attr-defined]

    # more than the slow socket's kernel send buffer, the host's transport buffer and its send queue can hold
    sender = asyncio.create_task(_send_many(agent, cid, "z" * 7000, COUNT))
    received = [await fast.expect("message", timeout=20) for _ in range(COUNT)]
    await sender
    assert [m["seq"] for m in received] == list(range(2, COUNT + 2))  # in order, none missing, none repeated

    # the slow tab reads now: what the host had sent before giving up on it, then close code 4008
    frames, code = await slow.read_to_close()
    seqs = [f["seq"] for f in frames if f["type"] == "message"]
    assert code == 4008
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < COUNT + 1

    # it reconnects with what it has and gets exactly the rest
    again = await host.visitor(token=fast.token, last_seq=seqs[-1])  # type: ignore[attr-defined]
    rest = [await again.expect("message", timeout=10) for _ in range(COUNT + 1 - seqs[-1])]
    assert [m["seq"] for m in rest] == list(range(seqs[-1] + 1, COUNT + 2))


class RawSocket:
    """A WebSocket client on a bare socket: after the handshake it reads nothing until asked to, unlike aiohttp's
    client, whose reader keeps draining the socket in the background."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, port: int, path: str) -> RawSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting, so the window stays small
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += await asyncio.to_thread(sock.recv, 1)  # byte by byte: not one byte of the frames after it
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    async def read_to_close(self) -> tuple[list[dict[str, Any]], int]:
        """Every text frame until the close frame, and the close code."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.settimeout(10)
        frames = []
        try:
            while True:
                opcode, payload = await asyncio.to_thread(self._frame)
                if opcode == 0x8:
                    return frames, struct.unpack("!H", payload[:2])[0]
                if opcode == 0x1:
                    frames.append(json.loads(payload))
        finally:
            self.sock.close()

    def _frame(self) -> tuple[int, bytes]:
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exactly(8))
        return first & 0x0F, self._exactly(length)

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            # acknowledge at once: with the small window, delayed ACKs would make catching up take minutes
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed without a close frame")
            data += chunk
        return data


async def _send_many(agent: Any, cid: int, body: str, n: int) -> None:
    for i in range(n):
        await agent.say(cid, body, client_msg_id=f"bulk-{i}")


async def test_a_resume_point_too_far_back_or_ahead_gets_resync(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__MAX_REPLAY": "5", "KEFU_CHAT__VISITOR_BURST": "50"})
    visitor = await host.visitor()
    for n in range(10):
        await visitor.say(f"m{n}")
    behind = await host.visitor(token=visitor.token, last_seq=2)  # type: ignore[attr-defined]
    resync = await behind.expect("resync")
    assert (resync["reason"], resync["from_seq"], resync["last_seq"]) == ("too_far_behind", 2, 10)
    await visitor.say("after the resync")
    assert (await behind.expect("message"))["seq"] == 11  # live delivery continues after the log's end

    ahead = await host.visitor(token=visitor.token, last_seq=99)  # type: ignore[attr-defined]
    assert (await ahead.expect("resync"))["reason"] == "ahead_of_log"

    history = await host.client.get(f"/api/conversations/{resync['conversation_id']}/messages?after_seq=2&limit=3",
                                    headers={"Authorization": f"Bearer {visitor.token}"})  # type: ignore[attr-defined]
    assert [m["seq"] for m in (await history.json())["messages"]] == [3, 4, 5]


async def test_typing_and_read_receipts_are_relayed_not_stored(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("a"))
    visitor = await host.visitor()
    cid = (await visitor.say("hi"))["conversation_id"]
    await agent.expect("assigned")
    await visitor.send({"type": "typing"})
    assert (await agent.expect("typing"))["from"] == "visitor"
    await agent.send({"type": "read", "conversation_id": cid, "seq": 1})
    assert (await visitor.expect("read"))["by"] == "agent"
    stored = await host.client.get(f"/api/conversations/{cid}/messages",
                                   headers={"Authorization": f"Bearer {visitor.token}"})  # type: ignore[attr-defined]
    assert len((await stored.json())["messages"]) == 1


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    async def kefu_message_received(self, conversation: Any, message: Any) -> None:
        self.events.append(("message", message.body))

    @hookimpl
    def kefu_conversation_assigned(self, conversation: Any, agent: Any) -> None:
        self.events.append(("assigned", agent.name))

    @hookimpl
    def kefu_conversation_transferred(self, conversation: Any, from_team: str, to_team: str, reason: str) -> None:
        self.events.append(("transferred", (from_team, to_team, reason)))

    @hookimpl
    def kefu_conversation_closed(self, conversation: Any, closed_by: str) -> None:
        self.events.append(("closed", closed_by))


async def test_plugins_hear_the_conversation_lifecycle(start_host: Callable[..., Any], tmp_path: Any) -> None:
    plugin = tmp_path / "recorder.py"
    plugin.write_text(
        "from tests.chat.test_delivery import Recorder\n"
        "def kefu_plugin(settings):\n    return Recorder()\n"
    )
    host = await start_host(plugins=[(str(plugin), {})])
    recorder = host.app[PLUGIN_MANAGER].get_plugin("recorder")
    agent = await host.agent(await host.add_agent("a", teams=("support", "vip")))
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    await agent.expect("assigned")
    await agent.say(cid, "hi there")
    await agent.send({"type": "transfer", "conversation_id": cid, "team": "vip"})
    await agent.expect("assigned")
    await agent.send({"type": "close", "conversation_id": cid})
    await visitor.expect("closed")
    await asyncio.sleep(0.05)
    assert recorder.events == [
        ("message", "hello"),
        ("assigned", "a"),
        ("message", "hi there"),
        ("transferred", ("support", "vip", "agent")),
        ("assigned", "a"),
        ("closed", "agent"),
    ]


async def test_typing_and_read_reach_the_other_side_but_not_the_socket_that_sent_them(
    start_host: Callable[..., Any],
) -> None:
    host = await start_host()
    agent = await host.agent(await host.add_agent("li"))
    visitor = await host.visitor()
    ack = await visitor.say("hello")
    cid = ack["conversation_id"]
    await agent.expect("assigned")
    await visitor.expect("agent_joined")
    await agent.expect("agent_joined")  # it follows the conversation too

    for sender, receiver, frames in [
        (visitor, agent, [{"type": "typing"}, {"type": "read", "seq": 1}]),
        (agent, visitor, [{"type": "typing", "conversation_id": cid}, {"type": "read", "conversation_id": cid, "seq": 1}]),
    ]:
        for outbound in frames:
            await sender.send(outbound)
            assert (await receiver.receive())["type"] == outbound["type"]
        # frames to one socket arrive in the order they were sent to it: an echo would come before the pong
        await sender.send({"type": "ping"})
        assert (await sender.receive())["type"] == "pong"
