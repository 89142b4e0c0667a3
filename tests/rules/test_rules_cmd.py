"""``kefu-host rules check|test|explain`` end to end through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kefu_host.cli import main
from tests.rules.conftest import TEAMS, VIP_TRUNCATED, shipped_with_vip_truncated, write

RULES = {
    "routing.rule": """\
        group routing match first
        rule vip.high_ltv priority 500 in group routing
          when customer.ltv >= 10000 then assign_team "vip" prefer_agent customer.owner
        end
        rule default.general priority -1000 in group routing when true then assign_team "support" end
        test "vip" given customer.ltv = 20000 expect fired vip.high_ltv, assign_team "vip" end
        """,
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(autouse=True)
def _no_ambient_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KEFU_CONFIG", raising=False)


def test_check_accepts_a_valid_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "rules", RULES)
    code, out, err = run(capsys, "rules", "check", "rules")
    assert code == 0 and err == ""
    assert out.startswith("rules: OK, 2 rules, 1 group, 0 lists, 1 test passed (revision ")


def test_check_reports_errors_with_location_and_caret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "rules", {"a.rule": "rule a.one\n  when customer.ltvv > 1\n  then stop\nend\n"})
    code, out, err = run(capsys, "rules", "check", "rules")
    assert code == 1 and out == ""
    assert err == (
        "rules/a.rule:2:8: unknown field customer.ltvv, did you mean customer.ltv?\n"
        "      when customer.ltvv > 1\n"
        "           ^\n"
        "1 error\n"
    )


@pytest.mark.parametrize("files", [{}, {"lists/words.txt": "诈骗\n", ".old.rule": "rule r when true then stop end"}])
def test_check_refuses_a_directory_without_a_rule_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str]
) -> None:
    (tmp_path / "rules").mkdir()
    write(tmp_path / "rules", files)
    code, out, err = run(capsys, "rules", "check", "rules")
    assert code == 1 and out == ""
    assert err == (
        "rules: no .rule file found; with no rules every conversation goes to chat.default_team "
        "(set rules.allow_empty = true if that is intended)\n1 error\n"
    )


def test_check_accepts_an_empty_directory_when_the_config_allows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules").mkdir()
    config = '[rules]\ndirectory = "rules"\nallow_empty = true\n'
    (tmp_path / "kefu.toml").write_text(config, encoding="utf-8")
    code, out, err = run(capsys, "rules", "check")
    assert code == 0 and err == "" and out.startswith("rules: OK, 0 rules, 0 groups, 0 lists, 0 tests passed")


def test_check_shows_a_truncated_file_first_not_its_side_effects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped_with_vip_truncated(tmp_path / "rules")
    code, out, err = run(capsys, "rules", "check", "--teams", ",".join(TEAMS), "rules")
    assert code == 1 and out == ""
    assert err.splitlines()[0] == f"rules/{VIP_TRUNCATED}"
    assert err.splitlines()[-1] == "1 error"


def test_teams_come_from_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "myrules", {"a.rule": 'rule r when true then assign_team "vip" end\n'})
    (tmp_path / "kefu.toml").write_text(
        '[rules]\ndirectory = "myrules"\n[chat]\nteams = ["support"]\ndefault_team = "support"\n',
        encoding="utf-8",
    )
    code, _, err = run(capsys, "rules", "check")
    assert code == 1 and 'myrules/a.rule:1:35: unknown team "vip"' in err
    code, out, _ = run(capsys, "rules", "check", "--teams", "support,vip")
    assert code == 0 and out.startswith("myrules: OK")


def test_test_runs_inline_tests_and_lists_rules_no_test_fired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "rules", RULES)
    code, out, _ = run(capsys, "rules", "test", "rules")
    assert code == 0
    assert out.splitlines() == [
        "PASS  vip  (rules/routing.rule:6:1)",
        "1 passed, 0 failed",
        "rules no test fired: default.general",
    ]


def test_test_fails_with_the_differences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path / "rules",
        {**RULES, "more.rule": 'test "wrong" given customer.ltv = 1 expect assign_team "vip" end\n'},
    )
    code, out, _ = run(capsys, "rules", "test", "rules")
    assert code == 1
    assert "FAIL  wrong  (rules/more.rule:1:1)" in out
    assert '      - expected assign_team "vip", got assign to "support" (by default.general)' in out
    assert "1 passed, 1 failed" in out


def test_explain_shows_rules_conditions_and_the_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "rules", RULES)
    facts = json.dumps({"customer": {"ltv": 25000, "owner": "alice"}})
    code, out, _ = run(capsys, "rules", "explain", "rules", "--facts", facts)
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == "fired        vip.high_ltv (priority 500, group routing) rules/routing.rule:2:1"
    assert lines[2] == "    true   customer.ltv >= 10000   [customer.ltv = 25000]"
    assert (
        lines[3].startswith("skipped      default.general")
        and "group routing already matched vip.high_ltv" in lines[3]
    )
    assert "  team:         vip (assign by vip.high_ltv)" in lines
    assert "  prefer_agent: alice" in lines


def test_explain_reads_facts_from_a_file_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "rules", RULES)
    (tmp_path / "facts.json").write_text('{"customer.ltv": 5}', encoding="utf-8")
    code, out, _ = run(capsys, "rules", "explain", "rules", "--facts", "@facts.json", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["decision"]["team"] == "support" and data["decision"]["fired"] == ["default.general"]
    assert data["rules"][0]["condition"]["fact"] == 5


def test_explain_rejects_facts_that_are_not_a_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "rules", RULES)
    code, _, err = run(capsys, "rules", "explain", "rules", "--facts", "[1]")
    assert code == 2 and "facts must be a JSON object" in err
    code, _, err = run(capsys, "rules", "explain", "rules", "--facts", "{nope")
    assert code == 2 and "invalid JSON" in err
