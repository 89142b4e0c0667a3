"""Loading a directory: snapshot, revision, file order, every error found, and no crash on any input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu_host.rules import Catalogue, RuleError, RuleSetError, compute_revision, load_rules
from kefu_host.rules.loader import build_ruleset, read_snapshot
from tests.rules.conftest import TEAMS, VIP_TRUNCATED, shipped_with_vip_truncated, write

BASIC = {
    "a.rule": 'list words = file("lists/words.txt")\n'
    'rule a.words when message.text contains_any $words then tag "w" end\n',
    "lists/words.txt": "退款\n",
}


def test_load_rules_reads_every_rule_file_under_the_directory(tmp_path: Path) -> None:
    write(tmp_path, {**BASIC, "deep/er/b.rule": 'rule b.one priority 5 when true then tag "b" end\n'})
    rules = load_rules(tmp_path, Catalogue.core(), TEAMS)
    assert [r.id for r in rules.rules] == ["b.one", "a.words"]
    assert rules.files == ("a.rule", "deep/er/b.rule", "lists/words.txt")
    assert rules.decide({"message.text": "退款"}).tags == ("b", "w")


def test_the_revision_covers_rules_and_lists_and_is_what_compute_revision_says(tmp_path: Path) -> None:
    write(tmp_path, BASIC)
    first = load_rules(tmp_path).revision
    assert compute_revision(tmp_path) == first
    assert load_rules(tmp_path).revision == first
    (tmp_path / "lists/words.txt").write_text("退款\n投诉\n", encoding="utf-8")
    assert compute_revision(tmp_path) != first
    assert load_rules(tmp_path).revision == compute_revision(tmp_path)


def test_the_revision_depends_on_paths_not_only_contents(tmp_path: Path) -> None:
    write(tmp_path / "one", {"a.rule": "rule r when true then stop end\n"})
    write(tmp_path / "two", {"b.rule": "rule r when true then stop end\n"})
    assert compute_revision(tmp_path / "one") != compute_revision(tmp_path / "two")


def test_hidden_files_and_directories_are_ignored(tmp_path: Path) -> None:
    # Kubernetes keeps the previous ConfigMap in a ..timestamp directory next to the live files.
    write(
        tmp_path, {**BASIC, "..2024_01_01/a.rule": "rule old when true then stop end\n", ".swp.rule": "junk"}
    )
    rules = load_rules(tmp_path)
    assert [r.id for r in rules.rules] == ["a.words"]
    assert ".swp.rule" not in rules.files


def test_symlinked_files_and_directories_are_followed(tmp_path: Path) -> None:
    data = tmp_path / "..data_v1"
    write(data, BASIC)
    live = tmp_path / "live"
    live.mkdir()
    (live / "a.rule").symlink_to(data / "a.rule")
    (live / "lists").symlink_to(data / "lists", target_is_directory=True)
    (live / "loop").symlink_to(live, target_is_directory=True)
    assert load_rules(live).decide({"message.text": "退款"}).fired == ("a.words",)


def test_a_missing_directory_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError) as caught:
        load_rules(tmp_path / "nope")
    assert [str(e) for e in caught.value.errors] == [f"{tmp_path / 'nope'}: rules directory not found"]


def test_errors_name_files_under_the_directory_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "rules", {"a.rule": "rule a.one when customer.ltvv > 1 then stop end\n"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuleSetError) as caught:
        load_rules("rules")
    assert caught.value.errors[0].headline() == (
        "rules/a.rule:1:17: unknown field customer.ltvv, did you mean customer.ltv?"
    )


def test_a_file_that_is_not_utf8_is_an_error_at_the_bad_byte() -> None:
    with pytest.raises(RuleSetError) as caught:
        build_ruleset({"a.rule": b"rule r when true\nthen \xff end"}, Catalogue.core())
    assert caught.value.errors[0].headline() == "a.rule:2:6: file is not valid UTF-8"


def test_a_truncated_file_is_the_first_error_and_its_side_effects_elsewhere_are_not_reported(
    tmp_path: Path,
) -> None:
    # vip.rule ends mid-condition. Before: "unknown rule vip.high_ltv" in overflow.rule and risk.rule (their
    # tests name it) sorted before it. The syntax error is the news; what the broken file defines is known.
    shipped_with_vip_truncated(tmp_path / "rules")
    with pytest.raises(RuleSetError) as caught:
        load_rules(tmp_path / "rules", teams=TEAMS)
    assert [error.headline() for error in caught.value.errors] == [f"{tmp_path}/rules/{VIP_TRUNCATED}"]


def test_syntax_errors_come_first_and_other_errors_follow_in_file_order() -> None:
    files = {
        "a.rule": 'rule a.one in group routing when message.text contains_any $words then tag "a" end\n',
        "b.rule": 'rule b.one when customer.ltvv > 1 then tag "b" end\n',
        "z.rule": 'group routing match first\nrule z.one when true then assign_team "support"\n',
    }
    with pytest.raises(RuleSetError) as caught:
        build_ruleset({name: text.encode() for name, text in files.items()}, Catalogue.core(), TEAMS)
    assert [error.headline() for error in caught.value.errors] == [
        "z.rule:2:48: unexpected end of file, missing 'end'",
        "a.rule:1:60: unknown list $words",  # z.rule does not define it: a real error, listed after
        "b.rule:1:17: unknown field customer.ltvv, did you mean customer.ltv?",
    ]


def test_a_file_cut_inside_a_character_says_it_looks_cut_short() -> None:
    with pytest.raises(RuleSetError) as caught:
        build_ruleset({"a.rule": 'rule r when message.text contains "诈骗"'.encode()[:-2]}, Catalogue.core())
    assert caught.value.errors[0].headline() == (
        "a.rule:1:37: unexpected end of file inside a character (the file looks cut short)"
    )


def test_a_failing_inline_test_fails_the_load_unless_tests_are_skipped(tmp_path: Path) -> None:
    write(
        tmp_path, {"a.rule": 'rule r when customer.ltv > 1 then tag "x" end\ntest "t" expect fired r end\n'}
    )
    with pytest.raises(RuleSetError) as caught:
        load_rules(tmp_path)
    assert caught.value.errors[0].headline() == (
        f'{tmp_path}/a.rule:2:1: test "t" failed: expected r to fire, but it did not (fired: none)'
    )
    assert load_rules(tmp_path, run_inline_tests=False).rules[0].id == "r"


def test_a_directory_without_a_rule_file_is_an_error_unless_allowed(tmp_path: Path) -> None:
    # An empty set sends everything to chat.default_team: far more often a wrong path or a half-synced volume
    write(tmp_path, {"lists/words.txt": "诈骗\n", ".old.rule": "rule r when true then stop end\n"})
    with pytest.raises(RuleSetError) as caught:
        load_rules(tmp_path)
    assert [error.headline() for error in caught.value.errors] == [
        f"{tmp_path}: no .rule file found; with no rules every conversation goes to chat.default_team "
        "(set rules.allow_empty = true if that is intended)"
    ]
    rules = load_rules(tmp_path, allow_empty=True)
    assert rules.rules == () and rules.decide({"customer.ltv": 1}).fired == ()


def test_read_snapshot_skips_fifos_and_dangling_links(tmp_path: Path) -> None:
    write(tmp_path, {"a.rule": "rule r when true then stop end\n"})
    os.mkfifo(tmp_path / "pipe.rule")
    (tmp_path / "gone.rule").symlink_to(tmp_path / "nowhere")
    assert set(read_snapshot(tmp_path).files) == {"a.rule"}


# ---- fuzz: whatever the bytes, the loader answers with a rule set or located errors ------------------------
_TOKENS = st.sampled_from(
    (
        "rule test list group match first all priority in desc owner when then end and or not "
        "contains contains_any matches is present true false given expect fired file stop "
        "assign_team transfer tag set_priority prefer_agent "
        "customer.ltv message.text queue.length customer.attributes customer.tags "
        '"x" "诈骗" "([" -5 10000 2m 1.5 $w ( ) [ ] , = == != >= < > # \n " @ \\ default.general a.b'
    ).split(" ")
)
_SOURCES = st.one_of(
    st.lists(_TOKENS, max_size=40).map(" ".join),
    st.text(max_size=200),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SOURCES, _SOURCES)
def test_any_input_loads_or_raises_only_rule_errors(first: str, second: str) -> None:
    files = {
        "a.rule": first.encode("utf-8", "surrogatepass"),
        "b.rule": second.encode("utf-8", "surrogatepass"),
        "lists/w.txt": b"x\n",
    }
    try:
        build_ruleset(files, Catalogue.core(), TEAMS)
    except RuleSetError as exc:
        assert exc.errors and all(isinstance(e, RuleError) for e in exc.errors)
        for error in exc.errors:
            assert error.render()


@settings(max_examples=200, deadline=None)
@given(st.lists(_TOKENS, max_size=30).map(" ".join))
def test_fuzzed_rules_inside_a_valid_frame_load_or_fail_cleanly(body: str) -> None:
    source = (
        f'list w = ["x"]\ngroup g match first\nrule f.z priority 1 in group g when {body} then tag "t" end\n'
    )
    try:
        rules = build_ruleset({"a.rule": source.encode()}, Catalogue.core(), TEAMS)
    except RuleSetError:
        return
    rules.decide({"customer.ltv": 1, "message.text": "x"})
    rules.explain({})
