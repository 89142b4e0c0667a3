"""Visitor and agent clients that speak the WebSocket protocol (docs/protocol.md) over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import aiohttp
import orjson

#: Seconds a test waits for a frame before failing: a guard against hangs, generous for a busy CI machine.
DEFAULT_TIMEOUT = 15.0


class ProtocolClient:
    """A socket plus everything it received, with helpers to wait for particular frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._cursor = 0
        self._ids = itertools.count(1)

    async def send(self, data: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(data).decode())

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def receive(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next frame not yet consumed (waiting for it if needed)."""
        while self._cursor >= len(self.frames):
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed: {msg.type.name} code={self.ws.close_code}")
            self.frames.append(orjson.loads(msg.data))
        frame = self.frames[self._cursor]
        self._cursor += 1
        return frame

    async def expect(self, kind: str, timeout: float = DEFAULT_TIMEOUT, **match: Any) -> dict[str, Any]:
        """Skip ahead to the next frame of ``kind`` whose fields equal ``match``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind} frame matching {match}; got {[f['type'] for f in self.frames]}")
            frame = await self.receive(remaining)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def drain(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        """Everything that arrives until the socket is quiet for ``quiet`` seconds."""
        out = []
        while True:
            try:
                out.append(await self.receive(quiet))
            except TimeoutError:
                return out

    def new_id(self) -> str:
        return f"m{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    async def close(self) -> None:
        await self.ws.close()


class VisitorClient(ProtocolClient):
    async def say(self, body: str, client_msg_id: str | None = None) -> dict[str, Any]:
        """Send a message and wait for its ack."""
        client_msg_id = client_msg_id or self.new_id()
        await self.send({"type": "send", "client_msg_id": client_msg_id, "body": body})
        return await self.expect("ack", client_msg_id=client_msg_id)


class AgentClient(ProtocolClient):
    async def say(
        self, conversation_id: int, body: str, client_msg_id: str | None = None, *, note: bool = False
    ) -> dict[str, Any]:
        """Send a message (or, with ``note``, a private note) and wait for its ack."""
        client_msg_id = client_msg_id or self.new_id()
        frame = {"type": "send", "conversation_id": conversation_id, "client_msg_id": client_msg_id, "body": body}
        if note:
            frame["note"] = True
        await self.send(frame)
        return await self.expect("ack", client_msg_id=client_msg_id)

    async def note(self, conversation_id: int, body: str, client_msg_id: str | None = None) -> dict[str, Any]:
        return await self.say(conversation_id, body, client_msg_id, note=True)
