"""Hot reload against a real directory: bad sets never replace the good one; watcher and rescan both work."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from kefu_host.rules import RuleSetHolder, RulesReloader
from kefu_host.rules.loader import NO_RULE_FILES
from kefu_host.rules.reloader import guard
from tests.rules.conftest import TEAMS, ruleset, tagging_rules, write

GOOD = {
    "routing.rule": """\
        group routing match first
        rule vip.high_ltv priority 500 in group routing
          when customer.ltv >= 10000 then assign_team "vip"
        end
        rule default.general priority -1000 in group routing when true then assign_team "support" end
        test "vip" given customer.ltv = 20000 expect assign_team "vip" end
        """,
    "risk.rule": """\
        list sensitive = file("lists/sensitive.txt")
        rule risk.words priority 900 in group routing
          when message.text contains_any $sensitive then transfer "risk-control"
        end
        """,
    "lists/sensitive.txt": "诈骗\n",
}


@pytest.fixture
async def loaded(tmp_path: Path) -> tuple[RulesReloader, RuleSetHolder, Path]:
    write(tmp_path, GOOD)
    holder = RuleSetHolder()
    reloader = RulesReloader(holder, tmp_path, teams=TEAMS, debounce=0.05, rescan_interval=3600)
    outcome = await reloader.reload(trigger="startup")
    assert outcome.status == "loaded" and holder.current is not None
    return reloader, holder, tmp_path


async def test_unchanged_content_does_not_reload(loaded: tuple[RulesReloader, RuleSetHolder, Path]) -> None:
    reloader, holder, _ = loaded
    before = holder.current
    outcome = await reloader.reload(trigger="sighup")
    assert outcome.status == "unchanged" and outcome.ok
    assert holder.current is before and holder.reloads == 1


async def test_a_big_set_is_built_in_a_worker_process_and_swapped_in(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    old = holder.current
    (directory / "generated.rule").write_text(tagging_rules(350), encoding="utf-8")
    with capture_logs() as logs:
        outcome = await reloader.reload()
    assert outcome.status == "loaded" and holder.current is not old
    assert len(holder.current.rules) == 353  # type: ignore[union-attr]
    assert holder.current.decide({"message.text": "x349y"}).tags == ("t349",)  # type: ignore[union-attr]
    [entry] = [e for e in logs if e["event"] == "rules_reloaded"]
    assert entry["built_in"] == "process" and entry["build_pid"] != os.getpid()


async def test_a_directory_left_without_rule_files_keeps_the_running_set(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    good = holder.current
    for path in directory.glob("*.rule"):
        path.unlink()
    outcome = await reloader.reload(trigger="watch")
    assert outcome.status == "failed" and holder.current is good
    assert outcome.message == f"{directory}: " + NO_RULE_FILES


async def test_a_changed_file_is_swapped_in(loaded: tuple[RulesReloader, RuleSetHolder, Path]) -> None:
    reloader, holder, directory = loaded
    old = holder.current
    (directory / "lists/sensitive.txt").write_text("诈骗\n投诉\n", encoding="utf-8")
    outcome = await reloader.reload()
    assert outcome.status == "loaded" and outcome.previous_revision == old.revision  # type: ignore[union-attr]
    assert (
        holder.current is not old and holder.current.decide({"message.text": "投诉"}).team == "risk-control"
    )  # type: ignore[union-attr]
    assert holder.reloads == 2


@pytest.mark.parametrize(
    ("files", "expected_error"),
    [
        pytest.param(
            {
                "risk.rule": 'list sensitive = file("lists/sensitive.txt")\n'
                "rule risk.words priority 900\n  when message.text contains_any"
            },
            "risk.rule:3:33: unexpected end of file, expected '[' or a list like $name",
            id="half-written file",
        ),
        pytest.param(
            {"zz.rule": 'rule vip.high_ltv when true then assign_team "vip" end\n'},
            "zz.rule:1:1: duplicate rule id vip.high_ltv (first defined at ",
            id="duplicate id across files",
        ),
        pytest.param(
            {"zz.rule": 'rule new.one when customer.ltvv > 1 then tag "x" end\n'},
            "zz.rule:1:19: unknown field customer.ltvv, did you mean customer.ltv?",
            id="unknown field",
        ),
    ],
)
async def test_a_broken_set_leaves_the_previous_one_active(
    loaded: tuple[RulesReloader, RuleSetHolder, Path], files: dict[str, str], expected_error: str
) -> None:
    reloader, holder, directory = loaded
    good = holder.current
    write(directory, files)
    with capture_logs() as logs:
        outcome = await reloader.reload(trigger="watch")
    assert outcome.status == "failed" and not outcome.ok
    assert expected_error in outcome.message
    assert holder.current is good
    assert holder.failures == 1 and holder.last_error is not None and expected_error in holder.last_error
    [entry] = [e for e in logs if e["event"] == "rules_reload_failed"]
    assert entry["log_level"] == "error" and any(expected_error in line for line in entry["errors"])
    assert good.decide({"customer.ltv": 20000}).team == "vip"  # type: ignore[union-attr]


async def test_a_rejected_revision_is_not_retried_until_it_changes(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    write(directory, {"zz.rule": "rule broken when then end\n"})
    assert (await reloader.reload()).status == "failed"
    assert (await reloader.reload(trigger="rescan")).status == "unchanged"
    assert holder.failures == 1
    write(directory, {"zz.rule": 'rule fixed when true then tag "ok" end\n'})
    outcome = await reloader.reload()
    assert outcome.status == "loaded" and holder.last_error is None
    assert "fixed" in holder.current.rule_ids  # type: ignore[union-attr]


async def test_losing_the_default_rule_is_refused_unless_forced(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    good = holder.current
    text = (directory / "routing.rule").read_text(encoding="utf-8")
    (directory / "routing.rule").write_text(
        text.replace("default.general", "fallback.general").replace(
            "in group routing when true", "when true"
        ),
        encoding="utf-8",
    )
    outcome = await reloader.reload()
    assert outcome.status == "refused" and "no default rule" in outcome.message
    assert holder.current is good and holder.failures == 1
    forced = await reloader.reload(force=True)
    assert forced.status == "loaded" and holder.current is not good


async def test_losing_more_than_half_the_rules_is_refused_unless_forced(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    write(
        directory,
        {
            "routing.rule": """\
        group routing match first
        rule default.general priority -1000 in group routing when true then assign_team "support" end
        """,
            "risk.rule": "# emptied by a bad sync\n",
        },
    )
    outcome = await reloader.reload()
    assert outcome.status == "refused" and outcome.message.startswith("the new rule set drops 2 of 3 rules")
    assert len(holder.current.rules) == 3  # type: ignore[union-attr]
    assert (await reloader.reload(force=True)).status == "loaded"
    assert len(holder.current.rules) == 1  # type: ignore[union-attr]


def test_the_guard_accepts_ordinary_edits() -> None:
    old = ruleset(
        'rule a when true then tag "a" end\nrule b when true then tag "b" end\n'
        'rule default.x when true then tag "d" end'
    )
    new = ruleset(
        'rule a when true then tag "a2" end\nrule c when true then tag "c" end\n'
        'rule default.x when true then tag "d" end'
    )
    assert guard(old, new) is None


async def test_reload_never_raises_even_when_the_directory_is_gone(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    good = holder.current
    shutil.rmtree(directory)
    outcome = await reloader.reload()
    assert outcome.status == "failed" and "rules directory not found" in outcome.message
    assert holder.current is good


# ---- run(): watcher and rescan ---------------------------------------------------------------------------
@pytest.fixture
async def running() -> AsyncIterator[Callable[[RulesReloader], None]]:
    tasks: list[asyncio.Task[None]] = []

    def start(reloader: RulesReloader) -> None:
        tasks.append(asyncio.create_task(reloader.run()))

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with pytest.raises(asyncio.CancelledError):
            await task


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_the_watcher_picks_up_a_file_write(
    loaded: tuple[RulesReloader, RuleSetHolder, Path], running: Callable[[RulesReloader], None]
) -> None:
    reloader, holder, directory = loaded
    old = holder.current
    running(reloader)
    await asyncio.wait_for(reloader.watching.wait(), 5)
    await asyncio.sleep(0.3)  # let the OS watch be registered before writing
    write(directory, {"extra.rule": 'rule extra.one when true then tag "extra" end\n'})
    await wait_for(lambda: holder.current is not old)
    assert "extra.one" in holder.current.rule_ids  # type: ignore[union-attr]


async def test_the_rescan_picks_up_a_change_without_the_watcher(
    tmp_path: Path, running: Callable[[RulesReloader], None]
) -> None:
    write(tmp_path, GOOD)
    holder = RuleSetHolder()
    reloader = RulesReloader(holder, tmp_path, teams=TEAMS, rescan_interval=0.05, watch=False)
    await reloader.reload()
    old = holder.current
    running(reloader)
    write(tmp_path, {"extra.rule": 'rule extra.one when true then tag "extra" end\n'})
    await wait_for(lambda: holder.current is not old)
    assert "extra.one" in holder.current.rule_ids  # type: ignore[union-attr]
    assert not reloader.watching.is_set()


async def test_the_rescan_follows_a_configmap_symlink_swap(
    tmp_path: Path, running: Callable[[RulesReloader], None]
) -> None:
    # The kubelet's layout: versions in hidden directories, ..data pointing at the live one, files linking
    # through ..data; an update writes a new version and renames a new ..data over the old in one step.
    mount = tmp_path / "rules"
    write(mount / "..v1", GOOD)
    (mount / "..data").symlink_to("..v1")
    for name in ("routing.rule", "risk.rule", "lists"):
        (mount / name).symlink_to(f"..data/{name}")
    holder = RuleSetHolder()
    reloader = RulesReloader(holder, mount, teams=TEAMS, rescan_interval=0.05, watch=False)
    assert (await reloader.reload()).status == "loaded"
    old = holder.current
    running(reloader)
    write(mount / "..v2", {**GOOD, "lists/sensitive.txt": "诈骗\n投诉\n"})
    (mount / "..data_tmp").symlink_to("..v2")
    os.replace(mount / "..data_tmp", mount / "..data")
    shutil.rmtree(mount / "..v1")
    await wait_for(lambda: holder.current is not old)
    assert holder.current.decide({"message.text": "我要投诉"}).team == "risk-control"  # type: ignore[union-attr]


async def test_holder_status_is_json_ready(loaded: tuple[RulesReloader, RuleSetHolder, Path]) -> None:
    _, holder, _ = loaded
    status = holder.status()
    assert status["rules"] == 3 and status["reloads"] == 1 and status["failures"] == 0
    assert status["revision"] == holder.current.revision  # type: ignore[union-attr]


async def test_a_directory_that_stays_missing_is_reported_once_not_every_rescan(
    loaded: tuple[RulesReloader, RuleSetHolder, Path],
) -> None:
    reloader, holder, directory = loaded
    shutil.rmtree(directory)
    assert (await reloader.reload(trigger="rescan")).status == "failed"
    with capture_logs() as logs:
        again = await reloader.reload(trigger="rescan")
    assert again.status == "failed" and holder.failures == 1 and logs == []
    assert (await reloader.reload(trigger="sighup")).status == "failed" and holder.failures == 2
