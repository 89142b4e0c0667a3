"""The Aho-Corasick word scanner behind contains_any."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kefu_host.rules.matcher import BYTE_VIEW_THRESHOLD, WordScanner, words_found


def test_each_list_is_one_bit_of_the_result() -> None:
    scanner = WordScanner([["诈骗", "fraud"], ["退款"], ["fraud"]])
    assert scanner.scan("你们这是诈骗") == 0b001
    assert scanner.scan("我要退款") == 0b010
    assert scanner.scan("FRAUD and 退款") == 0b111
    assert scanner.scan("nothing here") == 0


def test_matching_is_case_insensitive_by_case_folding() -> None:
    for as_bytes in (False, True):
        assert WordScanner([["Straße"]], byte_view=as_bytes).scan("STRASSE") == 1


def test_lists_with_many_first_characters_match_on_bytes_with_the_same_answers() -> None:
    words = [chr(0x4E00 + i) + "骗" for i in range(BYTE_VIEW_THRESHOLD + 1)]
    scanner = WordScanner([words])
    assert scanner.scan("你们" + words[-1] + "吗") == 1
    assert scanner.scan("".join(w[0] for w in words)) == 0


def test_non_text_and_empty_lists_never_match() -> None:
    assert WordScanner([["x"]]).scan(None) == 0
    assert WordScanner([["x"]]).scan(["x"]) == 0
    assert WordScanner([[]]).scan("x") == 0
    assert WordScanner([["", "  "]]).scan("a  b") == 1  # only the blank-but-not-empty word is kept


def test_words_found_reports_words_as_written() -> None:
    assert words_found("我要投诉你们诈骗 SCAM", ["诈骗", "scam", "退款", "投诉"]) == ["诈骗", "scam", "投诉"]
    assert words_found("aaa", ["a", "aa"], limit=1) == ["a"]


_ALPHABET = st.sampled_from([*"ab诈骗投诉退款éÉßSsΣσς€😀 \u0301", "\ud800"])


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.text(_ALPHABET, min_size=1, max_size=4), max_size=6),
    st.text(_ALPHABET, max_size=30),
    st.booleans(),
)
def test_the_scanner_finds_exactly_the_case_folded_substrings(
    words: list[str], text: str, as_bytes: bool
) -> None:
    # Both ways of matching (characters, UTF-8 bytes) must equal plain substring search on folded text.
    expected = any(w.casefold() in text.casefold() for w in words if w.casefold())
    assert (WordScanner([words], byte_view=as_bytes).scan(text) == 1) is expected
