"""Literal tokens: string escapes, numbers, durations."""

from __future__ import annotations

import pytest

from kefu_host.rules.literals import decode_duration, decode_number, decode_string


def test_strings_know_four_escapes_and_keep_other_backslashes_for_regexes() -> None:
    assert decode_string(r'"a\"b\\c\nd\te"') == 'a"b\\c\nd\te'
    assert decode_string(r'"\d+\.\d+"') == r"\d+\.\d+"
    assert decode_string('"我要投诉"') == "我要投诉"


def test_a_trailing_backslash_before_the_quote_cannot_occur_but_a_lone_one_is_kept() -> None:
    assert decode_string(r'"\q"') == r"\q"


def test_numbers_are_ints_unless_they_have_a_fraction() -> None:
    assert decode_number("42") == 42 and isinstance(decode_number("42"), int)
    assert decode_number("-7") == -7
    assert decode_number("2.5") == 2.5


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("1d", 86400.0), ("1.5h", 5400.0)]
)
def test_durations_are_seconds(text: str, seconds: float) -> None:
    assert decode_duration(text) == seconds
