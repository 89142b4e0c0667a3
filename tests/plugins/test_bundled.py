"""The bundled kefu.toml loads the three plugins; a real host process runs them with nothing else set up."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kefu_host.chat.tokens import identity_hash
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
def host_process(fresh_checkout: Path, closed_port: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    # only the listening port changes, and the ERP / provider addresses point at a port known to be closed
    # (the bundled 8090/8091 could be taken on a developer's machine): "not running" is what is tested
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "KEFU_SERVER__PORT": "0",
        "KEFU_PLUGINS__ERP__BASE_URL": f"http://127.0.0.1:{closed_port}",
        "KEFU_PLUGINS__PAYMENTS__PROVIDER_URL": f"http://127.0.0.1:{closed_port}",
    }
    add = subprocess.run(
        [
            sys.executable,
            "-m",
            "kefu_host",
            "--config",
            "kefu.toml",
            "agents",
            "add",
            "alice",
            "--team",
            "support",
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=fresh_checkout,
        env=env,
        timeout=60,
    )
    assert add.returncode == 0, add.stdout + add.stderr
    token = add.stdout.rsplit(":", 1)[1].strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu_host", "--config", "kefu.toml"],
        cwd=fresh_checkout,
        env={**env, "KEFU_SERVER__LOG_FORMAT": "json"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            record = json.loads(line)
            if record.get("event") == "listening":
                port = int(record["port"])
        assert port is not None, f"host did not start (exit code {proc.poll()})"
        proc.agent_token = token  # type: ignore[attr-defined]
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def test_the_bundled_host_runs_its_plugins_from_a_fresh_checkout(
    host_process: tuple[subprocess.Popen[str], int], fresh_checkout: Path
) -> None:
    proc, port = host_process
    url = f"http://127.0.0.1:{port}"
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

        agent = await session.ws_connect(
            f"{url}/ws/agent", headers={"Authorization": f"Bearer {proc.agent_token}"}
        )
        welcome = await agent.receive_json()
        assert {"ticket.create", "erp.stock", "payments.refund"} <= {a["name"] for a in welcome["actions"]}
        identity = {"user_id": "u-1", "user_hash": identity_hash("dev-identity-secret-change-me", "u-1")}
        visitor_token = (await (await session.post(f"{url}/api/visitor/sessions", json=identity)).json())[
            "token"
        ]
        visitor = await session.ws_connect(f"{url}/ws/visitor?token={visitor_token}")
        await visitor.send_json({"type": "send", "client_msg_id": "c1", "body": "hello"})
        cid = await _assigned(agent)

        async def action(name: str, args: dict[str, Any]) -> dict[str, Any]:
            await agent.send_json(
                {"type": "action", "ref": name, "action": name, "args": args, "conversation_id": cid}
            )
            while True:
                frame = await agent.receive_json(timeout=10)
                if frame["type"] == "action_result" and frame["ref"] == name:
                    return dict(frame)

        assert (await action("ticket.create", {"subject": "hello"}))["result"]["status"] == "open"
        assert (await action("erp.stock", {"sku": "A1"}))["error"]["code"] == "erp_unavailable"
        refund = await action("payments.refund", {"order_id": "O-1", "amount": 1, "reason": "test"})
        assert refund["error"]["code"] == "payments_unavailable"
        await agent.close()
        await visitor.close()

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0


async def _assigned(agent: aiohttp.ClientWebSocketResponse) -> int:
    while True:
        frame = await agent.receive_json(timeout=10)
        if frame["type"] == "assigned":
            return int(frame["conversation"]["id"])
