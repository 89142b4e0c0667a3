"""``kefu-host agents``: console passwords (asked twice on a terminal, or one line on stdin) and the admin flag."""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kefu_host.chat.passwords import verify_password
from kefu_host.cli import agents_cmd, main
from kefu_host.cli.agents_cmd import PasswordInputError, read_password
from kefu_host.config import database_url, load_config
from kefu_host.store import open_store


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """``kefu-host --config FILE agents ARGS`` in this process, with ``stdin`` as its standard input."""

    def run(config: Path, *args: str, stdin: str = "") -> Ran:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["--config", str(config), "agents", *args])
        out = capsys.readouterr()
        return Ran(int(exited.value.code or 0), out.out, out.err)

    return run


def stored(config: Path, name: str) -> dict[str, Any]:
    from sqlalchemy import select

    from kefu_host.store.models import Agent

    async def read() -> dict[str, Any]:
        async with open_store(database_url(load_config(config, environ={}))) as store, store.read() as conn:
            row = (await conn.execute(select(Agent.password_hash, Agent.is_admin).where(Agent.name == name))).one()
            return {"password_hash": row.password_hash, "is_admin": row.is_admin}

    return asyncio.run(read())


def test_add_with_a_password_from_stdin_and_admin(write_config: Callable[..., Path], agents: Callable[..., Ran]) -> None:
    config = write_config()
    done = agents(config, "add", "li.lei", "--team", "support", "--password-stdin", "--admin",
                  stdin="correct horse battery\n")
    assert done.returncode == 0, done.stderr
    assert "admin agent li.lei created" in done.stdout and "console password set" in done.stdout
    assert "correct horse" not in done.stdout + done.stderr
    row = stored(config, "li.lei")
    assert row["is_admin"] is True and verify_password("correct horse battery", row["password_hash"])
    listing = agents(config, "list").stdout.splitlines()
    assert listing[0].split()[4:7] == ["admin", "password", "last"]
    assert listing[1].split()[3:6] == ["active", "yes", "set"]


def test_set_changes_the_password_and_the_admin_flag(write_config: Callable[..., Path], agents: Callable[..., Ran]) -> None:
    config = write_config()
    assert agents(config, "add", "alice", "--team", "support").returncode == 0
    assert stored(config, "alice") == {"password_hash": None, "is_admin": False}
    done = agents(config, "set", "alice", "--password-stdin", "--admin", stdin="a new password\r\n")
    assert done.returncode == 0, done.stderr
    assert "now an admin" in done.stdout and "console sessions are signed out" in done.stdout
    row = stored(config, "alice")
    assert row["is_admin"] is True and verify_password("a new password", row["password_hash"])  # no \r kept
    assert agents(config, "set", "alice", "--no-admin").returncode == 0
    assert stored(config, "alice")["is_admin"] is False
    assert stored(config, "alice")["password_hash"] == row["password_hash"]  # untouched when not asked


def test_a_weak_password_or_password_without_a_terminal_changes_nothing(write_config: Callable[..., Path], agents: Callable[..., Ran]) -> None:
    config = write_config()
    weak = agents(config, "add", "bob", "--team", "support", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 8 characters; nothing changed" in weak.stderr
    no_tty = agents(config, "add", "bob", "--team", "support", "--password")
    assert no_tty.returncode == 2 and "use --password-stdin" in no_tty.stderr
    assert "no agents" in agents(config, "list").stdout
    both = agents(config, "add", "bob", "--team", "support", "--password", "--password-stdin", stdin="x\n")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_password_is_asked_twice_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["correct horse battery", "correct horse battery"])
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(agents_cmd.getpass, "getpass", getpass)
    monkeypatch.setattr(agents_cmd.sys, "stdin", _Terminal())
    assert read_password(argparse.Namespace(ask_password=True, password_stdin=False)) == "correct horse battery"
    assert prompts == ["password: ", "password again: "]

    answers = iter(["correct horse battery", "correct horse batter"])
    with pytest.raises(PasswordInputError, match="not the same"):
        read_password(argparse.Namespace(ask_password=True, password_stdin=False))
    assert read_password(argparse.Namespace(ask_password=False, password_stdin=False)) is None
