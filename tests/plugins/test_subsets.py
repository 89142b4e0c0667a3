"""Any subset of the bundled plugins runs on the bundled kefu.toml and its rules; taking one away leaves the rest
and the chat working."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from kefu_host.config import load_config
from kefu_host.testing.pytest_plugin import KefuApp
from tests.plugins.conftest import ROOT, call

BUNDLED = ("ticket", "erp", "payments")
#: One action of each plugin, and what it answers on the bundled config.
PROBES = {
    "ticket": ("ticket.list", {}),
    "erp": ("erp.inventory", {"sku": "A1"}),
    "payments": ("payments.failures", {}),
}
SUBSETS = [c for n in range(len(BUNDLED) + 1) for c in itertools.combinations(BUNDLED, n)]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "kefu.toml", tmp_path / "kefu.toml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "plugins", tmp_path / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.parametrize("kept", SUBSETS, ids=lambda kept: "+".join(kept) or "none")
async def test_any_subset_of_the_bundled_plugins_runs(kefu_app: KefuApp, checkout: Path, kept: tuple[str, ...]) -> None:
    removed = [name for name in BUNDLED if name not in kept]
    # the bundled file as it is, but the simulators on free ports (8090 and 8091 may be taken here)
    environ = {"KEFU_PLUGINS__ERP__BASE_URL": "http://127.0.0.1:0", "KEFU_PLUGINS__PAYMENTS__PROVIDER_URL": "http://127.0.0.1:0"}
    host = await kefu_app.start(load_config(checkout / "kefu.toml", environ=environ), blocked=removed)

    plugins = await host.plugins()
    for name in kept:
        assert (plugins[name]["status"], plugins[name]["errors"]) == ("loaded", {}), plugins[name]
    for name in removed:
        assert plugins[name]["status"] == "blocked"
    assert (await host.client.get("/readyz")).status == 200

    agent, visitor, cid = await host.chatting("u-42")
    names = {a["name"].split(".")[0] for a in (await host.agent(await host.add_agent("bob"))).frames[0]["actions"]}
    assert names == set(kept)
    for name in kept:
        action, args = PROBES[name]
        assert (await call(agent, action, args, cid))["ok"], name
    for name in removed:
        action, args = PROBES[name]
        assert (await call(agent, action, args, cid))["error"]["code"] == "unknown_action"
    await agent.say(cid, "still here")
    assert (await visitor.expect("message", sender="agent"))["body"] == "still here"
