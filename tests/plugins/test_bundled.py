"""The bundled kefu.toml loads the three plugins; a real host process runs them, with the ERP simulator and the
payment sandbox, with nothing else set up: an agent's whole loop works at once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.testing.events import envelope, signed
from kefu_host.testing.process import HostProcess
from tests.plugins.conftest import ROOT

BUNDLED = ("ticket", "erp", "payments")


def test_kefu_host_plugins_lists_the_bundled_plugins_as_loaded() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kefu_host", "plugins", "--config", str(ROOT / "kefu.toml"), "--json"],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)}
    for name in BUNDLED:
        assert records[name]["status"] == "loaded", records[name]
        assert records[name]["location"] == str(ROOT / "plugins" / name)
    assert (
        "kefu_rule_fields" in records["ticket"]["hooks"]
        and "kefu_rule_fields" in records["payments"]["hooks"]
    )


def test_the_articles_command_line_configures_the_ticket_plugin() -> None:
    # ./kefu-service --plugin ./ticket_plugin.so --config '{"mysql":{"dsn":"user:pass@tcp(127.0.0.1:3306)/db"}}'
    article = '{"mysql":{"dsn":"user:pass@tcp(127.0.0.1:3306)/db"}}'
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "kefu_host",
            "plugins",
            "--json",
            "--plugin",
            "./plugins/ticket",
            "--config",
            article,
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert {r["name"]: r["status"] for r in json.loads(ok.stdout)}["ticket"] == "loaded"
    broken = subprocess.run(
        [
            sys.executable,
            "-m",
            "kefu_host",
            "plugins",
            "--plugin",
            "./plugins/ticket",
            "--config",
            article.replace("tcp(", "tpc("),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert broken.returncode == 1
    assert "reason: ValueError: mysql.dsn: expected tcp(host:port) or unix(/path)" in broken.stdout


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> Path:
    """kefu.toml, rules/ and plugins/ as a fresh clone has them: no data/ directory yet."""
    shutil.copy(ROOT / "kefu.toml", tmp_path / "kefu.toml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    for name in BUNDLED:
        shutil.copytree(
            ROOT / "plugins" / name, tmp_path / "plugins" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> Path:
    """kefu.toml, rules/ and plugins/ as a fresh clone has them: no data/ directory yet."""
    shutil.copy(ROOT / "kefu.toml", tmp_path / "kefu.toml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    for name in BUNDLED:
        shutil.copytree(
            ROOT / "plugins" / name, tmp_path / "plugins" / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


EVENT_SECRET = "whsec_c2hvcC1ldmVudHMtc2VjcmV0LWZvci10ZXN0cw=="
#: Only the ports change: the host's, and the simulators' (port 0: any free one, as 8090 and 8091 may be taken on
#: this machine), plus a business system allowed to send events (the bundled kefu.toml declares none).
PORTS = {
    "KEFU_SERVER__PORT": "0",
    "KEFU_SERVER__LOG_FORMAT": "json",
    "KEFU_PLUGINS__ERP__BASE_URL": "http://127.0.0.1:0",
    "KEFU_PLUGINS__PAYMENTS__PROVIDER_URL": "http://127.0.0.1:0",
    "KEFU_EVENTS__SOURCES__SHOP__SECRETS": f'["{EVENT_SECRET}"]',
}


def add_agent(checkout: Path, env: dict[str, str]) -> str:
    add = subprocess.run(
        [sys.executable, "-m", "kefu_host", "--config", "kefu.toml", "agents", "add", "alice", "--team", "support"],
        check=False, capture_output=True, text=True, cwd=checkout, env={**os.environ, **env}, timeout=60,
    )
    assert add.returncode == 0, add.stdout + add.stderr
    return add.stdout.rsplit(":", 1)[1].strip()


@pytest.fixture
def bundled_host(fresh_checkout: Path) -> Iterator[tuple[HostProcess, str]]:
    token = add_agent(fresh_checkout, PORTS)
    host = HostProcess(fresh_checkout / "kefu.toml", env=PORTS)
    try:
        host.wait_listening()
        yield host, token
    finally:
        host.kill()


async def test_an_agent_runs_the_whole_loop_on_the_bundled_config(
    bundled_host: tuple[HostProcess, str], fresh_checkout: Path
) -> None:
    host, token = bundled_host
    erp = host.log.wait("ERP simulator listening")
    sandbox = host.log.wait("payment sandbox listening")
    assert erp["url"].startswith("http://127.0.0.1:") and sandbox["url"].startswith("http://127.0.0.1:")
    url = host.url
    admin = {"Authorization": "Bearer dev-admin-token-change-me"}
    async with aiohttp.ClientSession() as session:
        assert (await session.get(f"{url}/readyz")).status == 200
        plugins = {
            p["name"]: p
            for p in (await (await session.get(f"{url}/api/plugins", headers=admin)).json())["plugins"]
        }
        for name in BUNDLED:
            assert (plugins[name]["status"], plugins[name]["errors"]) == ("loaded", {}), plugins[name]
        assert (fresh_checkout / "data" / "tickets.db").is_file()
        assert (fresh_checkout / "data" / "payments.db").is_file()

        agent = await session.ws_connect(f"{url}/ws/agent", headers={"Authorization": f"Bearer {token}"})
        welcome = await agent.receive_json()
        assert {"ticket.create", "erp.inventory", "payments.refund"} <= {a["name"] for a in welcome["actions"]}
        # u-42 is the simulator's seeded customer, with orders in the ERP and payments in the sandbox
        identity = {"user_id": "u-42", "user_hash": identity_hash("dev-identity-secret-change-me", "u-42")}
        session_answer = await (await session.post(f"{url}/api/visitor/sessions", json=identity)).json()
        visitor = await session.ws_connect(f"{url}/ws/visitor?token={session_answer['token']}")
        # in Chinese: the shipped rules send English chats to en-desk, and alice is in support only
        await visitor.send_json({"type": "send", "client_msg_id": "c1", "body": "我的水壶订单还没到"})
        cid = await _assigned(agent)
        refs = iter(range(1, 100))

        async def action(name: str, args: dict[str, Any]) -> dict[str, Any]:
            ref = f"r{next(refs)}"
            await agent.send_json(
                {"type": "action", "ref": ref, "action": name, "args": args, "conversation_id": cid}
            )
            while True:
                frame = await agent.receive_json(timeout=10)
                if frame["type"] == "action_result" and frame["ref"] == ref:
                    return dict(frame)

        # the ERP: stock and the customer's orders, answered on the agent's socket
        stock = await action("erp.inventory", {"sku": "A1"})
        assert stock["ok"] and (stock["result"]["sku"], stock["result"]["available"]) == ("A1", 12), stock
        orders = (await action("erp.orders", {}))["result"]
        assert [o["order_id"] for o in orders["orders"]] == ["O-1002", "O-1001"]

        # a ticket with the conversation's transcript
        ticket = (await action("ticket.create", {"subject": "late kettle"}))["result"]
        shown = await (await session.get(f"{url}/plugins/ticket/tickets/{ticket['id']}", headers=admin)).json()
        assert (ticket["status"], ticket["transcript_messages"]) == ("open", len(shown["transcript"]))
        assert [m["body"] for m in shown["transcript"] if m["sender"] == "visitor"] == ["我的水壶订单还没到"]

        # a refund at the sandbox, clicked twice: paid once
        args = {"order_id": "O-1001", "amount": "10", "reason": "late delivery", "request_id": "click-1"}
        first, again = await action("payments.refund", args), await action("payments.refund", args)
        assert first["ok"] and again["ok"], (first, again)
        assert again["result"]["refund_id"] == first["result"]["refund_id"]
        assert (first["result"]["duplicate"], again["result"]["duplicate"]) == (False, True)
        # O-1001 was 99.90: what is left is 89.90, so only one 10 went out
        rest = await action("payments.refund", {**args, "amount": "89.91", "request_id": "click-2"})
        assert rest["error"] == {"code": "refund_rejected", "message": "refund exceeds the 89.90 left of 99.90 paid"}
        assert (await action("payments.refund", {**args, "amount": "89.90", "request_id": "click-3"}))["ok"]

        # the ticket system reports a status change: the visitor is told in the chat
        event = envelope("ticket.changed", {"uid": "u-42", "ticket_id": ticket["id"], "status": "pending"})
        body, headers = signed(EVENT_SECRET, event)
        assert (await session.post(f"{url}/api/events", data=body, headers=headers)).status == 200
        notice = await _ticket_notice(visitor)
        assert notice["body"] == f"Ticket #{ticket['id']} (late kettle) is now pending."
        live = await _frame(visitor, "ticket.status_changed")
        assert live["data"] == {"ticket_id": ticket["id"], "subject": "late kettle", "status": "pending"}
        await agent.close()
        await visitor.close()

    host.proc.send_signal(signal.SIGTERM)
    assert await host.exited(30) == 0


async def _assigned(agent: aiohttp.ClientWebSocketResponse) -> int:
    while True:
        frame = await agent.receive_json(timeout=10)
        if frame["type"] == "assigned":
            return int(frame["conversation"]["id"])


async def _frame(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        frame = await ws.receive_json(timeout=10)
        if frame["type"] == kind:
            return frame


async def _ticket_notice(visitor: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next system message from the ticket plugin (the shipped rules' automatic replies are skipped)."""
    while True:
        frame = await visitor.receive_json(timeout=10)
        if frame["type"] == "message" and (frame["sender"], frame["sender_id"]) == ("system", "ticket"):
            return dict(frame)


@pytest.fixture
def busy_ports() -> Iterator[tuple[int, int]]:
    """Two loopback ports something else listens on (as another program may hold 8090 and 8091)."""
    sockets = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen()
        sockets.append(s)
    try:
        yield sockets[0].getsockname()[1], sockets[1].getsockname()[1]
    finally:
        for s in sockets:
            s.close()


async def test_simulator_ports_in_use_are_a_clear_error_and_the_host_serves(
    fresh_checkout: Path, busy_ports: tuple[int, int]
) -> None:
    erp_port, provider_port = busy_ports
    env = {
        **PORTS,
        "KEFU_PLUGINS__ERP__BASE_URL": f"http://127.0.0.1:{erp_port}",
        "KEFU_PLUGINS__PAYMENTS__PROVIDER_URL": f"http://127.0.0.1:{provider_port}",
    }
    host = HostProcess(fresh_checkout / "kefu.toml", env=env)
    try:
        host.wait_listening()
        failed = host.log.wait(lambda r: r.get("event") == "hook failed" and r.get("plugin") == "erp")
        assert failed["error"] == (
            f"SimulatorError: the ERP simulator (plugins.erp.simulator) cannot listen on 127.0.0.1:{erp_port}: "
            "the port is already in use. Stop what listens there, or set plugins.erp.base_url to a free loopback "
            "port (port 0 picks one), or turn the ERP simulator (plugins.erp.simulator) off and set the real "
            "system's URL"
        )
        async with aiohttp.ClientSession() as session:
            assert (await session.get(f"{host.url}/readyz")).status == 200
            answer = await session.get(f"{host.url}/api/plugins", headers={"Authorization": "Bearer dev-admin-token-change-me"})
            plugins = {p["name"]: p for p in (await answer.json())["plugins"]}
        for name in ("erp", "payments"):
            assert plugins[name]["status"] == "loaded"
            assert plugins[name]["errors"] == {"kefu_startup": 1}
            assert f"cannot listen on 127.0.0.1:{busy_ports[name == 'payments']}" in plugins[name]["last_error"]
        assert plugins["ticket"]["errors"] == {}
    finally:
        host.kill()
