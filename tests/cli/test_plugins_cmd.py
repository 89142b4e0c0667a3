"""``kefu-host plugins --url``: a running host's plugins with live per-hook counts; ``--reload`` applies enablement."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kefu_host.config import load_config
from tests.conftest import ADMIN_TOKEN

PLUGIN = """
from kefu_host.sdk import hookimpl

@hookimpl
def kefu_startup(host):
    pass
"""


async def kefu_host(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kefu_host", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_the_live_counts_of_a_running_host(
    tmp_path: Path, write_config: Callable[..., Path], start_app: Callable[..., Any]
) -> None:
    (tmp_path / "counted.py").write_text(textwrap.dedent(PLUGIN))
    config = write_config()
    client = await start_app(config=load_config(config, environ={}), plugins=[(str(tmp_path / "counted.py"), {})])
    url = str(client.make_url("/")).rstrip("/")

    code, out = await kefu_host("plugins", "--config", str(config), "--url", url, "--json", cwd=tmp_path)
    assert code == 0, out
    counted = next(r for r in json.loads(out) if r["name"] == "counted")
    assert counted["hook_stats"]["kefu_startup"]["calls"] == 1

    code, out = await kefu_host("plugins", "--config", str(config), "--url", url, cwd=tmp_path,
                                env={"KEFU_ADMIN_TOKEN": ADMIN_TOKEN})
    assert code == 0, out
    assert "kefu_startup" in out and "p50" in out and "p99" in out

    config.write_text(config.read_text(encoding="utf-8") + "\n[plugins.counted]\nenabled = false\n")
    code, out = await kefu_host("plugins", "--config", str(config), "--url", url, "--reload", "--json", cwd=tmp_path)
    assert code == 0, out
    assert '"disabled": ["counted"]' in out.splitlines()[0]


async def test_a_wrong_token_is_reported(tmp_path: Path, write_config: Callable[..., Path],
                                         start_app: Callable[..., Any]) -> None:
    client = await start_app()
    url = str(client.make_url("/")).rstrip("/")
    code, out = await kefu_host("plugins", "--url", url, "--token", "wrong", cwd=tmp_path)
    assert code == 1
    assert "HTTP 401" in out
