"""The rules in a real host process: a broken set stops startup with its location; SIGHUP reloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN_TOKEN
from tests.routing.conftest import ROUTING
from tests.rules.conftest import VIP_TRUNCATED, shipped_with_vip_truncated


def start(cfg: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "kefu_host", "--config", str(cfg)], stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if '"listening"' in line:
            return proc, json.loads(line)["port"]
    proc.kill()
    raise AssertionError("host did not start")


def rules_status(port: int) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/rules",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return dict(json.load(response))


def test_a_broken_rule_set_stops_startup_with_its_location(
    write_rules: Callable[..., Any], write_config: Callable[..., Path]
) -> None:
    write_rules("rule x priority 1\n  when message.text contains \"a\"\n  tag \"y\"\nend\n")
    cfg = write_config()
    result = subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "routing.rule:3:3: missing 'then'" in result.stderr


def test_startup_names_a_truncated_file_first(rules_dir: Path, write_config: Callable[..., Path]) -> None:
    shipped_with_vip_truncated(rules_dir)
    cfg = write_config()
    result = subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    start = lines.index("kefu-host: the rules in rules do not load:")
    assert lines[start + 1] == f"{rules_dir}/{VIP_TRUNCATED}"
    assert not [line for line in lines if "unknown rule" in line]


def test_a_rules_directory_without_a_rule_file_stops_startup_in_one_line(
    rules_dir: Path, write_config: Callable[..., Path]
) -> None:
    (rules_dir / "README.txt").write_text("the rules live in the ops repository\n")
    cfg = write_config()
    refusing = {**os.environ, "KEFU_RULES__ALLOW_EMPTY": "false"}  # the test config allows it; the default not
    result = subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg)], capture_output=True,
                            text=True, timeout=60, env=refusing)
    assert result.returncode == 2
    problem = [line for line in result.stderr.splitlines() if line.startswith("kefu-host:")]
    assert problem == [
        "kefu-host: rules.directory rules: no .rule file found; with no rules every conversation goes to "
        "chat.default_team (set rules.allow_empty = true if that is intended)"
    ]


def test_sighup_reloads_the_rules(write_rules: Callable[..., Any], write_config: Callable[..., Path]) -> None:
    write_rules()
    cfg = write_config()
    cfg.write_text(cfg.read_text().replace('[rules]\n', "[rules]\nwatch = false\nrescan_interval = 0.0\n"))
    proc, port = start(cfg)
    try:
        before = rules_status(port)["revision"]
        write_rules(ROUTING.replace('assign_team "vip"', 'assign_team "backup"'))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while rules_status(port)["revision"] == before:
            assert time.monotonic() < deadline, "SIGHUP did not reload"
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)
