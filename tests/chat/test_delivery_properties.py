"""A property of delivery, checked by Hypothesis over random send / resend / drop / reconnect sequences:

every client's view of a conversation is a gap-free prefix of the stored log, with strictly increasing seq, and a
resend never stores a second message. Runs against a real host on a real socket.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kefu_host.app import RUNNER_OPTIONS, create_app
from kefu_host.chat.accounts import add_agent
from kefu_host.config import load_config
from kefu_host.keys import CHAT, STORE
from tests.conftest import base_toml

T = TypeVar("T")
_names = itertools.count()


class LiveHost:
    """The real app on a loopback port, served by an event loop in a thread of its own."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "rules").mkdir(exist_ok=True)
        config_path = tmp / "kefu.toml"
        config_path.write_text(base_toml(tmp))
        self.app = create_app(load_config(config_path, environ={"KEFU_CHAT__VISITOR_BURST": "1000"}),
                              entry_points=False)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(self.app, **RUNNER_OPTIONS)
        self.run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.run(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.session: aiohttp.ClientSession = self.run(_new_session())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.session.close())
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def _new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


class Client:
    """One socket's view: every message frame it received, in arrival order, and the acks it got."""

    def __init__(self, host: LiveHost, path: str, headers: dict[str, str] | None = None) -> None:
        self.host, self.path, self.headers = host, path, headers or {}
        #: the conversation as this socket sees it: others' messages, and its own as their acks (in their place)
        self.view: list[dict[str, Any]] = []
        self.bodies: dict[str, str] = {}
        self.assigned = asyncio.Event()
        self.acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.ws is not None

    async def connect(self, query: str) -> None:
        self.ws = await self.host.session.ws_connect(f"{self.host.url}{self.path}?{query}", headers=self.headers)
        self.reader = asyncio.get_running_loop().create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            frame = orjson.loads(msg.data)
            if frame["type"] == "message":
                self.view.append(frame)
            elif frame["type"] == "assigned":
                self.view.extend(m for m in frame["messages"] if not self.view or m["seq"] > self.view[-1]["seq"])
                self.assigned.set()
            elif frame["type"] == "ack":
                if not frame["duplicate"]:
                    self.view.append({**frame, "body": self.bodies[frame["client_msg_id"]]})
                future = self.acks.pop(frame["client_msg_id"], None)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif frame["type"] in ("resync", "error"):
                raise AssertionError(f"unexpected {frame}")

    async def send(self, data: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        self.bodies[data["client_msg_id"]] = data["body"]
        future = self.acks[data["client_msg_id"]] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(orjson.dumps(data).decode())
        return await asyncio.wait_for(future, 5)

    async def drop(self) -> None:
        assert self.ws is not None and self.reader is not None
        await self.ws.close()
        await self.reader
        self.ws = self.reader = None


@pytest.fixture(scope="module")
def live_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHost]:
    host = LiveHost(tmp_path_factory.mktemp("live"))
    yield host
    host.close()


class DeliveryMachine(RuleBasedStateMachine):
    host: LiveHost

    @initialize()
    def open_conversation(self) -> None:
        n = next(_names)
        host = self.host
        token = host.run(add_agent(host.app[STORE], f"prop-agent-{n}", ["support"], 1000))
        session = host.run(host.session.post(f"{host.url}/api/visitor/sessions"))
        visitor_token = host.run(session.json())["token"]
        self.tabs = [Client(host, "/ws/visitor") for _ in range(2)]
        self.agent = Client(host, "/ws/agent", {"Authorization": f"Bearer {token}"})
        self.visitor_token = visitor_token
        for tab in self.tabs:
            host.run(tab.connect(f"token={visitor_token}&last_seq=0"))
        host.run(self.agent.connect("presence=online"))
        first = host.run(self.tabs[0].send({"type": "send", "client_msg_id": "first", "body": "hello"}))
        host.run(asyncio.wait_for(self.agent.assigned.wait(), 5))  # an agent speaks once it is told it may
        self.conversation_id = first["conversation_id"]
        self.acked: dict[tuple[str, str], tuple[int, int]] = {("visitor", "first"): (first["id"], first["seq"])}
        self.counter = itertools.count()

    def clients(self) -> list[Client]:
        return [*self.tabs, self.agent]

    def _send_from(self, client: Client, client_msg_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "send", "client_msg_id": client_msg_id, "body": f"body {client_msg_id}"}
        if client is self.agent:
            data["conversation_id"] = self.conversation_id
        return self.host.run(client.send(data))

    @precondition(lambda self: any(c.connected for c in self.clients()))
    @rule(pick=st.integers(0, 2))
    def send(self, pick: int) -> None:
        client = self._connected(pick)
        cmid = f"c{next(self.counter)}"
        ack = self._send_from(client, cmid)
        assert ack["duplicate"] is False
        self.acked[(self._sender(client), cmid)] = (ack["id"], ack["seq"])

    @precondition(lambda self: any(c.connected for c in self.clients()))
    @rule(pick=st.integers(0, 2), which=st.integers(0, 10_000))
    def resend(self, pick: int, which: int) -> None:
        client = self._connected(pick)
        mine = sorted(k for k in self.acked if k[0] == self._sender(client))
        if not mine:
            return
        key = mine[which % len(mine)]
        ack = self._send_from(client, key[1])
        assert ack["duplicate"] is True
        assert (ack["id"], ack["seq"]) == self.acked[key]

    @rule(pick=st.integers(0, 2))
    def drop(self, pick: int) -> None:
        client = self.clients()[pick]
        if client.connected:
            self.host.run(client.drop())

    @rule(pick=st.integers(0, 2))
    def reconnect(self, pick: int) -> None:
        client = self.clients()[pick]
        if client.connected:
            return
        last = client.view[-1]["seq"] if client.view else 0
        if client is self.agent:
            self.host.run(client.connect(f"resume={self.conversation_id}:{last}"))
        else:
            self.host.run(client.connect(f"token={self.visitor_token}&last_seq={last}"))

    @invariant()
    def every_view_is_a_gap_free_prefix_of_the_log(self) -> None:
        if not hasattr(self, "conversation_id"):
            return
        stored = self.host.run(self.host.app[CHAT].service.repo.messages_after(self.conversation_id, 0, 100_000))
        log = [(m.seq, m.id, m.body) for m in stored]
        assert [seq for seq, _, _ in log] == list(range(1, len(log) + 1))
        assert len(log) == len({(s, c) for s, c in self.acked})  # one stored message per client_msg_id
        for client in self.clients():
            view = [(f["seq"], f["id"], f["body"]) for f in client.view]
            assert view == log[: len(view)], "a client saw a gap, a repeat or a message out of order"

    def teardown(self) -> None:
        if not hasattr(self, "conversation_id"):
            return
        for client in self.clients():
            if not client.connected:
                self.reconnect(self.clients().index(client))
        stored = self.host.run(self.host.app[CHAT].service.repo.messages_after(self.conversation_id, 0, 100_000))
        self.host.run(_settle(self.clients(), len(stored)))
        for client in self.clients():
            assert [f["seq"] for f in client.view] == [m.seq for m in stored]  # caught up completely
            self.host.run(client.drop())

    def _connected(self, pick: int) -> Client:
        connected = [c for c in self.clients() if c.connected]
        return connected[pick % len(connected)]

    def _sender(self, client: Client) -> str:
        return "agent" if client is self.agent else "visitor"


async def _settle(clients: list[Client], count: int) -> None:
    for _ in range(200):
        if all(len(c.view) >= count for c in clients):
            return
        await asyncio.sleep(0.01)


def test_every_view_is_a_gap_free_prefix_of_the_stored_log(live_host: LiveHost) -> None:
    DeliveryMachine.host = live_host
    runner = DeliveryMachine.TestCase
    runner.settings = settings(
        max_examples=25,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    runner("runTest").runTest()
