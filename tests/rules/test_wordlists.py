"""Word list files: format, paths confined to the rules directory."""

from __future__ import annotations

import pytest

from kefu_host.rules import RuleError
from kefu_host.rules.wordlists import normalise_list_path, parse_word_list
from tests.rules.conftest import errors, ruleset


def test_one_word_per_line_with_comments_and_blank_lines() -> None:
    data = "\ufeff# header\n诈骗\n\n  fraud  \nstolen card   # two words\n#tail\n".encode()
    assert parse_word_list(data, "lists/x.txt") == ("诈骗", "fraud", "stolen card")


def test_a_list_file_must_be_utf8() -> None:
    with pytest.raises(RuleError) as caught:
        parse_word_list(b"ok\n\xff\xfe\n", "rules/lists/x.txt")
    assert caught.value.headline() == "rules/lists/x.txt:2:1: list file is not valid UTF-8"


@pytest.mark.parametrize(
    ("ref", "clean"),
    [
        ("lists/a.txt", "lists/a.txt"),
        ("./lists/../lists/a.txt", "lists/a.txt"),
        ("../a.txt", None),
        ("/etc/passwd", None),
        ("lists/../../a.txt", None),
        ("C:/x.txt", None),
        (".", None),
    ],
)
def test_list_paths_stay_inside_the_rules_directory(ref: str, clean: str | None) -> None:
    assert normalise_list_path(ref) == clean


def test_a_missing_list_file_is_an_error_at_its_path() -> None:
    assert errors('list x = file("lists/x.txt")\n') == ["rules/a.rule:1:15: list file not found: lists/x.txt"]


def test_a_list_path_escaping_the_directory_is_an_error() -> None:
    assert errors('list x = file("../secrets.txt")\n') == [
        "rules/a.rule:1:15: list file must be inside the rules directory: ../secrets.txt"
    ]


def test_list_files_are_read_relative_to_the_rules_directory() -> None:
    files = {
        "sub/a.rule": 'list w = file("lists/w.txt")\n'
        "rule r when message.text contains_any $w then stop end\n",
        "lists/w.txt": "退款\n",
    }
    assert ruleset(files=files).decide({"message.text": "我要退款"}).fired == ("r",)
