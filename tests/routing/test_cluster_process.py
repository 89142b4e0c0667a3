"""Real host processes on one database: a rule set published by the CLI, the API or a node's file watcher runs on
every node; a broken one is refused everywhere; two publishes on the same parent, one wins; a node started later
runs the database's revision, not its stale files. Every wait is on a node's log line (``rules_reloaded`` with the
revision, which a node logs after its heartbeat row says so), never on time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kefu_host.rules.loader import compute_revision
from kefu_host.testing.process import HostProcess
from tests.conftest import admin_headers, base_toml
from tests.rules.conftest import write

ROUTING = """\
    group routing match first
    rule vip.ltv priority 500 in group routing when customer.ltv >= 10000 then assign_team "{team}" end
    rule default.all priority -1000 in group routing when true then assign_team "support" end
    """
BROKEN = 'rule broken.x priority 1\n  when customer.ltvv > 1\n  then tag "x"\nend\n'
START_TIMEOUT = 60.0


def routing(team: str) -> dict[str, str]:
    return {"routing.rule": ROUTING.format(team=team)}


class Cluster:
    """Host processes sharing ``db_url``, each with its own directory, config and rules."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root = root
        self.db_url = db_url
        self.hosts: dict[str, HostProcess] = {}

    def config(self, name: str, team: str) -> Path:
        home = self.root / name
        (home / "rules").mkdir(parents=True, exist_ok=True)
        write(home / "rules", routing(team))
        cfg = home / "kefu.toml"
        cfg.write_text(base_toml(home, self.db_url) + f'\n[cluster]\nnode_id = "{name}"\n', encoding="utf-8")
        return cfg

    def start(self, name: str, team: str = "vip", *, watch: bool = False, check_interval: float = 3600) -> HostProcess:
        """Start a node; without the watcher and with an hour between checks, unless told otherwise, so what it
        learns it learns by NOTIFY (PostgreSQL) or the CLI's way (SQLite: set ``check_interval``)."""
        env = {"KEFU_RULES__WATCH": str(watch).lower(), "KEFU_RULES__RESCAN_INTERVAL": "0",
               "KEFU_RULES__DEBOUNCE": "0.05", "KEFU_RULES__CHECK_INTERVAL": str(check_interval)}
        host = HostProcess(self.config(name, team), env=env)
        self.hosts[name] = host
        host.wait_listening(START_TIMEOUT)
        return host

    def rules_dir(self, name: str) -> Path:
        return self.root / name / "rules"

    async def runs(self, revision: str, *names: str) -> None:
        """Wait until each named node (default: all) logged that it runs ``revision``."""
        def loaded(record: dict[str, Any]) -> bool:
            return record.get("event") == "rules_reloaded" and record.get("revision") == revision

        await asyncio.gather(*(self.hosts[n].log.until(loaded, 60) for n in names or self.hosts))

    async def listening(self) -> None:
        await asyncio.gather(*(h.log.until("rules_listening", 30) for h in self.hosts.values()))

    def stop(self) -> None:
        for host in self.hosts.values():
            host.kill()


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path, pg_url)
    yield nodes
    nodes.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=admin_headers()) as session:
        yield session


async def status(http: aiohttp.ClientSession, host: HostProcess) -> dict[str, Any]:
    async with http.get(f"{host.url}/api/rules") as response:
        assert response.status == 200
        return dict(await response.json())


def publish_cli(cfg: Path, directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg), "rules", "publish",
                           str(directory), *extra], capture_output=True, text=True, timeout=120)


async def assert_every_node_runs(http: aiohttp.ClientSession, cluster: Cluster, revision: str) -> None:
    for name, host in cluster.hosts.items():
        body = await status(http, host)
        assert body["node"] == name and body["revision"] == revision
        assert body["active"]["revision"] == revision
        assert {n["node"]: n["revision"] for n in body["nodes"]} == dict.fromkeys(cluster.hosts, revision)
        assert not any(n["stale"] for n in body["nodes"])


async def test_a_publish_by_cli_api_or_watcher_runs_on_every_node(
    cluster: Cluster, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    a = cluster.start("a", watch=True)
    first = compute_revision(cluster.rules_dir("a"))
    b = cluster.start("b")
    c = cluster.start("c")
    await cluster.listening()
    await cluster.runs(first)
    await assert_every_node_runs(http, cluster, first)

    # the CLI, from a directory of its own
    release = tmp_path / "release"
    write(release, routing("backup"))
    done = await asyncio.to_thread(publish_cli, tmp_path / "a" / "kefu.toml", release, "--author", "deploy")
    assert done.returncode == 0, done.stderr
    second = compute_revision(release)
    assert f"published revision {second[:12]}" in done.stdout
    await cluster.runs(second)
    await assert_every_node_runs(http, cluster, second)
    active = (await status(http, c))["active"]
    assert (active["trigger"], active["author"], active["parent"]) == ("cli", "deploy", first)

    # the API of one node publishes that node's directory
    write(cluster.rules_dir("b"), routing("en-desk"))
    async with http.post(f"{b.url}/api/rules/reload", json={}) as response:
        answer = await response.json()
        assert response.status == 200 and answer["status"] == "loaded", answer
    third = answer["revision"]
    await cluster.runs(third)
    await assert_every_node_runs(http, cluster, third)

    # a file change under the node that watches its directory
    write(cluster.rules_dir("a"), routing("risk-control"))
    fourth = compute_revision(cluster.rules_dir("a"))
    await cluster.runs(fourth)
    await assert_every_node_runs(http, cluster, fourth)
    assert [r["trigger"] for r in (await status(http, a))["revisions"]][:4] == ["watch", "api", "cli", "startup"]

    # a node started later with the first files: those were published before, so it runs the active revision
    d = cluster.start("d", "vip")
    await cluster.runs(fourth, "d")
    body = await status(http, d)
    assert body["revision"] == fourth and body["files_revision"] == first
    await assert_every_node_runs(http, cluster, fourth)


async def test_a_broken_set_is_refused_everywhere_and_of_two_racing_publishes_one_wins(
    cluster: Cluster, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    a = cluster.start("a")
    b = cluster.start("b")
    await cluster.listening()
    good = compute_revision(cluster.rules_dir("a"))

    write(cluster.rules_dir("b"), {"broken.rule": BROKEN})
    async with http.post(f"{b.url}/api/rules/reload", json={}) as response:
        answer = await response.json()
    assert response.status == 422 and answer["status"] == "failed"
    assert answer["errors"][0]["location"] == f"{cluster.rules_dir('b')}/broken.rule:2:8"
    broken = tmp_path / "broken"
    write(broken, {**routing("vip"), "broken.rule": BROKEN})
    done = await asyncio.to_thread(publish_cli, tmp_path / "a" / "kefu.toml", broken)
    assert done.returncode == 1 and f"{broken}/broken.rule:2:8: unknown field customer.ltvv" in done.stderr
    assert "the active revision stays" in done.stderr
    for host in (a, b):
        body = await status(http, host)
        assert body["revision"] == good and body["active"]["revision"] == good
        assert [r["status"] for r in body["revisions"]][:2] == ["refused", "refused"]
        assert body["revisions"][0]["errors"][0]["location"] == f"{broken}/broken.rule:2:8"
        assert {n["node"]: n["revision"] for n in body["nodes"]} == {"a": good, "b": good}

    # two publishes based on the same parent: the compare-and-set lets exactly one through
    (cluster.rules_dir("b") / "broken.rule").unlink()
    write(cluster.rules_dir("a"), routing("backup"))
    write(cluster.rules_dir("b"), routing("en-desk"))

    async def reload(host: HostProcess) -> tuple[int, dict[str, Any]]:
        async with http.post(f"{host.url}/api/rules/reload", json={"parent": good}) as response:
            return response.status, dict(await response.json())

    (code_a, body_a), (code_b, body_b) = await asyncio.gather(reload(a), reload(b))
    assert sorted([code_a, code_b]) == [200, 409], (body_a, body_b)
    won, lost = (body_a, body_b) if code_a == 200 else (body_b, body_a)
    assert won["status"] == "loaded" and lost["status"] == "conflict"
    assert lost["active"] == won["revision"] and "conflict: the active revision is now" in lost["message"]
    await cluster.runs(won["revision"])
    await assert_every_node_runs(http, cluster, won["revision"])


def test_on_sqlite_a_cli_publish_reaches_the_running_host(tmp_path: Path) -> None:
    """One process on SQLite: the host finds the CLI's publish at its next periodic check."""
    nodes = Cluster(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/kefu.db")
    try:
        host = nodes.start("a", check_interval=0.2)
        release = tmp_path / "release"
        write(release, routing("backup"))
        done = publish_cli(tmp_path / "a" / "kefu.toml", release, "--wait", "60")
        assert done.returncode == 0, done.stderr
        revision = compute_revision(release)
        assert f"  a: runs it\nall 1 live hosts run {revision[:12]}" in done.stdout
        record = host.log.wait(lambda r: r.get("event") == "rules_reloaded" and r.get("revision") == revision, 60)
        assert record["trigger"] == "check" and record["node"] == "a"
        again = publish_cli(tmp_path / "a" / "kefu.toml", release)
        assert again.returncode == 0 and "is already active; nothing published" in again.stdout
        conflict = publish_cli(tmp_path / "a" / "kefu.toml", tmp_path / "a" / "rules", "--parent", "0" * 12)
        assert conflict.returncode == 1 and "kefu-host: conflict: the active revision is now" in conflict.stderr
    finally:
        nodes.stop()

