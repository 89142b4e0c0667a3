"""Rule regexes on RE2, and the fixed text a pattern requires (the pre-filter before running it)."""

from __future__ import annotations

import pytest
import re2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kefu_host.rules.regex import RegexError, compile_regex, required_literals, search

CATASTROPHIC = "(a+)+$"
HOSTILE = "a" * 24 + "!"


def test_rule_regexes_are_re2_regexes() -> None:
    assert isinstance(compile_regex("^x"), re2._Regexp)


def test_a_pattern_that_makes_backtracking_engines_explode_is_answered() -> None:
    regex = compile_regex(CATASTROPHIC)
    assert search(regex, HOSTILE) is False
    assert search(regex, "a" * 24) is True


def test_a_lone_surrogate_in_the_text_is_matched_not_raised() -> None:
    # json.loads('"\\ud800"') gives one; plain UTF-8 cannot encode it
    assert search(compile_regex("order"), "\ud800 order") is True
    assert search(compile_regex("^x$"), "\ud800") is False


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a)\1", r"\1 is a backreference; backreferences are not supported"),
        (r"(?=a)b", "lookahead (?=...) is not supported (invalid perl operator: (?=)"),
        (r"a(?!b)", "lookahead (?!...) is not supported (invalid perl operator: (?!)"),
        (r"(?<=a)b", "lookbehind (?<=...) is not supported (invalid perl operator: (?<=)"),
        (r"(?<!a)b", "lookbehind (?<!...) is not supported (invalid perl operator: (?<!)"),
        (r"(?>a)", "atomic groups (?>...) are not supported (invalid perl operator: (?>)"),
        (r"[\u4e00-\u9fff]", r"write a code point as \x{4e00}, not \u4e00 (invalid escape sequence: \u)"),
        (r"x\Z", r"write \z for the end of the text (invalid escape sequence: \Z)"),
        ("a{1001}", "a repetition count is at most 1000 (invalid repetition size: {1001})"),
        ("([a-z]", "missing ): ([a-z]"),
    ],
)
def test_patterns_re2_refuses_are_named_plainly(pattern: str, problem: str) -> None:
    with pytest.raises(RegexError) as caught:
        compile_regex(pattern)
    assert caught.value.problem == problem


def test_required_literals_are_the_fixed_runs_every_match_contains() -> None:
    assert required_literals(r"order[- ]?007\d+") == ("order", "007")
    assert required_literals("退款(吗|了)") == ("退款",)
    assert required_literals(r"\x{9000}\x{6b3e}了") == ("退款了",)
    assert required_literals(r"ab{2}cd") == ("cd",)
    assert required_literals(r"SCAM!?$") == ("SCAM",)
    assert required_literals(r"\.com\b") == (".com",)
    assert required_literals(r"(?i)order\d") == ()
    assert required_literals(r"(?si:x)order") == ()
    assert required_literals("abc|def") == ()
    assert required_literals(r"^\d{6}$") == ()
    assert required_literals("([") == ()
    assert required_literals(r"\Qab\E") == ()


_PIECES = st.sampled_from(
    [*"abAB诈骗.^$|*+?", "é", "ß", "Σ", r"\.", r"\d", r"\w", r"\x61", r"\x{8bc8}", r"\pL", r"\p{Han}",
     "[ab]", "[^a]", "[]a]", "[[:alpha:]]", "(a|b)", "(?:ab)", "(", ")", "(?i)", "(?i:a)", "(?s)", "{2}",
     "{1,}", "{0,2}", "{", "}", "{,2}", "*?", r"\b", r"\z"]
)
# Mostly the characters the pieces spell, so that many texts match: a property about matches needs matches.
_TEXT = st.text(
    st.one_of(st.sampled_from([*"ab诈骗."]), st.sampled_from([*"AB!{},2 é€ßSsΣσς", "\u0301", "\ud800", "\n"])),
    max_size=16,
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=8).map("".join), _TEXT)
@example(r"ab{2}", "abb")
@example(r"\x{8bc8}骗", "诈骗")
@example(r"\x61b", "ab")
@example(r"a{,2}b", "a{,2}b")
def test_a_text_without_a_required_literal_never_matches(pattern: str, text: str) -> None:
    # Soundness is what matters: the rules skip a regex whose literals are missing, so a wrong literal would
    # make a rule silently not fire. Checked against RE2 itself, on case-folded text as the rules scan it.
    try:
        regex = compile_regex(pattern)
    except RegexError:
        return
    literals = required_literals(pattern, shortest=1)
    if search(regex, text):
        folded = text.casefold()
        assert all(literal.casefold() in folded for literal in literals), (pattern, text, literals)
