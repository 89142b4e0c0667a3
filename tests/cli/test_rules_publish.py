"""``kefu-host rules publish`` on a SQLite database, as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.rules.conftest import write

ROUTING = (
    'group routing match first\n'
    'rule vip.ltv priority 500 in group routing when customer.ltv >= 10000 then assign_team "{team}" end\n'
    'rule default.all priority -1000 in group routing when true then assign_team "support" end\n'
)


def test_publish_refuse_and_conflict(write_config: Callable[..., Path], tmp_path: Path) -> None:
    cfg = write_config()

    def publish(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kefu_host", "--config", str(cfg), "rules", "publish",
                               str(directory), *extra], capture_output=True, text=True, timeout=120)

    one, two, bad = tmp_path / "one", tmp_path / "two", tmp_path / "bad"
    write(one, {"a.rule": ROUTING.format(team="vip")})
    write(two, {"a.rule": ROUTING.format(team="backup")})
    write(bad, {"a.rule": ROUTING.format(team="vipp")})

    first = publish(one, "--parent", "none", "--wait", "5")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0].endswith("(#1): loaded 2 rules; it is now active")
    assert "all 0 live hosts run" in first.stdout  # no host runs on this database
    revision = first.stdout.split()[2]

    refused = publish(bad)
    assert refused.returncode == 1
    assert f"{bad}/a.rule:2:88: unknown team \"vipp\", did you mean \"vip\"?" in refused.stderr
    assert "(#2) refused: " in refused.stderr and f"the active revision stays {revision}" in refused.stderr

    stale = publish(two, "--parent", "f" * 12)
    assert stale.returncode == 1 and "kefu-host: conflict: the active revision is now" in stale.stderr
    by_prefix = publish(two, "--parent", revision, "--author", "ci")
    assert by_prefix.returncode == 0 and "(#3)" in by_prefix.stdout
