"""``pip install .`` (not editable) ships the pages: every static file and template lands in site-packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import kefu_host.web

ROOT = Path(__file__).resolve().parents[2]
WEB = Path(kefu_host.web.__file__).parent


def _web_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_a_regular_install_ships_every_file_of_the_web_ui(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "kefu_host", source / "kefu_host", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    installed = next((target / "lib").glob("python3*/site-packages/kefu_host/web"))
    expected = _web_files(WEB)
    assert any(name.startswith("static/vendor/") for name in expected) and "templates/console.html" in expected
    assert _web_files(installed) == expected
