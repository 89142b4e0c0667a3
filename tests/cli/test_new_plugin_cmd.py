"""``kefu-host new-plugin``: the package it writes installs with pip, passes its own tests and loads by entry point."""

from __future__ import annotations

import json
import site
import subprocess
import sys
from pathlib import Path

import urllib.request

import pytest

from kefu_host.cli import main
from kefu_host.testing.host import ADMIN_TOKEN, write_config
from kefu_host.testing.process import HostProcess

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_the_generated_plugin_installs_passes_its_tests_and_loads_by_entry_point(tmp_path: Path) -> None:
    made = run(sys.executable, "-m", "kefu_host", "new-plugin", "loyalty", "--dir", tmp_path, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "loyalty"
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml", "README.md", "loyalty/__init__.py", "tests/test_plugin.py",
    }

    # a fresh environment that sees this one's packages (kefu-host and its test tools) but not the plugin
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    venv_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                         cwd=tmp_path).stdout.strip())
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    (venv_site / "kefu_host_under_test.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs), encoding="utf-8")
    installed = run(python, "-m", "pip", "install", "--no-deps", "--no-input", "-q", package, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = run(python, "-I", "-c", "import loyalty; print(loyalty.__file__)", cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv_site)), where  # the installed copy, not the source tree

    # -I: the plugin is imported from where pip put it, never from the source directory pytest runs in
    tested = run(python, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert "2 passed" in tested.stdout

    # beside the bundled plugins of the shipped kefu.toml, as on an operator's machine
    listed = run(python, "-I", "-m", "kefu_host", "plugins", "--config", ROOT / "kefu.toml", cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("loyalty "))
    assert line.split()[1:4] == ["loaded", "entry", "point"], listed.stdout
    records = json.loads(
        run(python, "-I", "-m", "kefu_host", "plugins", "--json", "--config", ROOT / "kefu.toml", cwd=tmp_path).stdout
    )
    loyalty = next(r for r in records if r["name"] == "loyalty")
    assert set(loyalty["hooks"]) == {
        "kefu_agent_actions", "kefu_conversation_facts", "kefu_message_received", "kefu_rule_fields",
    }

    # a running host of that environment shows it beside a plugin given by path
    config = write_config(tmp_path / "site")
    host = HostProcess(config, ["--plugin", str(ROOT / "plugins" / "ticket")], python=python,
                       env={"KEFU_SERVER__LOG_FORMAT": "json"})
    try:
        host.wait_listening()
        request = urllib.request.Request(f"{host.url}/api/plugins", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            plugins = {p["name"]: p for p in json.load(answer)["plugins"]}
    finally:
        host.kill()
    assert (plugins["loyalty"]["origin"], plugins["loyalty"]["status"]) == ("entry point", "loaded")
    assert (plugins["ticket"]["origin"], plugins["ticket"]["status"]) == ("command line", "loaded")


@pytest.mark.parametrize("name", ["Loyalty", "my-plugin", "1st", "kefu_host", "x" * 41])
def test_a_name_that_cannot_be_a_plugin_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["new-plugin", name, "--dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"{name!r} is not a plugin name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "loyalty").mkdir()
    (tmp_path / "loyalty" / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["new-plugin", "loyalty", "--dir", str(tmp_path)])
    assert exit_.value.code == 1
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "loyalty").iterdir()] == ["mine.txt"]
