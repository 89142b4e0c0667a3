"""The doctor's building blocks (the command itself: tests/cli/test_doctor_cmd.py)."""

from __future__ import annotations

from kefu_host.doctor import Finding, check_plugins, known_revision, redact, render
from kefu_host.store.migrate import head_revision


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql+asyncpg://kefu:s3cr:et@db:5432/kefu") == "postgresql+asyncpg://kefu:***@db:5432/kefu"
    assert redact("redis://:pw@redis:6379/0") == "redis://:***@redis:6379/0"  # a password without a user
    assert redact("sqlite+aiosqlite:///data/kefu.db") == "sqlite+aiosqlite:///data/kefu.db"


def test_known_revision() -> None:
    head = head_revision()
    assert head is not None and known_revision(head)
    assert not known_revision("9999_from_the_future")


def test_render_counts_problems_and_indents_continuations() -> None:
    text = render([Finding("ok", "config", "kefu.toml"), Finding("fail", "rules", "a.rule:1:1: bad\n    when\n    ^")])
    assert text.splitlines() == ["OK    config      kefu.toml", "FAIL  rules       a.rule:1:1: bad",
                                 "                     when", "                     ^", "1 problem found"]


def test_a_plugin_that_failed_is_a_problem_and_a_skipped_one_is_not() -> None:
    records = [{"name": "a", "status": "loaded", "location": "x", "reason": None},
               {"name": "b", "status": "blocked", "location": "y", "reason": "--no-plugin"}]
    assert check_plugins(records) == [Finding("ok", "plugins", "loaded: a")]
    failed = [*records, {"name": "c", "status": "failed", "location": "/p/c", "reason": "ImportError: nope"}]
    assert check_plugins(failed) == [Finding("fail", "plugins", "c (/p/c) failed to load: ImportError: nope")]
