"""The one way the host reads integers, text and secrets from outside."""

from __future__ import annotations

import orjson
import pytest

from kefu_host.inputs import (
    ID_RANGE,
    INT32_RANGE,
    MAX_DEPTH,
    BadInput,
    IntRange,
    json_int,
    json_problem,
    nul_field,
    parse_int,
    same_secret,
)


@pytest.mark.parametrize("text", ["²", "١٢٣", "１２", "𝟙", "+5", " 5", "5 ", "1_000", "0x10", "1e3", "1.5", "", "-1",
                                  "9" * 5000, str(2**63), str(10**30)])
def test_only_plain_ascii_digits_within_the_range_are_integers(text: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_int(text, "after_seq", ID_RANGE)
    assert (info.value.field, info.value.message) == ("after_seq", f"must be an integer from 1 to {2**63 - 1}")


def test_the_range_ends_are_accepted() -> None:
    assert parse_int(str(2**63 - 1), "id", ID_RANGE) == 2**63 - 1
    assert parse_int("0", "seq", INT32_RANGE) == 0 and parse_int(str(2**31 - 1), "seq", INT32_RANGE) == 2**31 - 1
    assert parse_int("007", "seq", INT32_RANGE) == 7
    assert parse_int("-5", "delta", IntRange(-10, 10)) == -5
    with pytest.raises(BadInput):
        parse_int(str(2**31), "seq", INT32_RANGE)


@pytest.mark.parametrize("value", [True, False, None, "5", 1.5, 2**63, -1, 1e19, [], {}])
def test_json_integers_are_ints_in_range_and_not_booleans(value: object) -> None:
    with pytest.raises(BadInput):
        json_int(value, "conversation_id", ID_RANGE)


def test_a_json_number_with_a_zero_fraction_is_that_integer() -> None:
    assert json_int(5.0, "seq", INT32_RANGE) == 5 and type(json_int(5.0, "seq", INT32_RANGE)) is int


def test_nul_is_found_in_any_text_of_a_json_value_and_named_by_its_path() -> None:
    assert nul_field({"data": {"name": "ok", "attributes": {"note": "a\x00b"}}}) == "data.attributes.note"
    assert nul_field({"events": [{"id": "1"}, {"id": "x\x00"}]}) == "events[1].id"
    assert nul_field({"data": {"k\x00": 1}}, "events[0]") == "events[0].data.k\\u0000"
    assert nul_field("\x00") == "(body)"
    assert nul_field({"a": ["fine", 1, None, {"b": 2.5}]}) is None


def test_secrets_compare_whatever_their_characters() -> None:
    assert same_secret("é", "é") and not same_secret("é", "e") and not same_secret("tokén", "token")
    assert not same_secret("\udcff", "x")  # undecodable header bytes, as aiohttp hands them on


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_json_nested_deeper_than_the_limit_is_refused_where_it_gets_too_deep() -> None:
    assert json_problem(_nested(MAX_DEPTH)) is None
    problem = json_problem({"data": {"attributes": _nested(MAX_DEPTH)}})
    assert problem is not None and problem.field == "data.attributes" + ".a" * (MAX_DEPTH - 2)  # level 33
    assert problem.message == f"nests deeper than {MAX_DEPTH} levels of objects and arrays"
    listed = json_problem({"x": [[[[1]]]]}, path="events[0]")
    assert listed is None
    assert json_problem([[]] * 3) is None and json_problem([_nested(MAX_DEPTH)]) is not None


def test_the_json_text_lets_the_walks_be_skipped_but_never_wrongly() -> None:
    deep = _nested(MAX_DEPTH + 1)
    text = orjson.dumps(deep)
    assert json_problem(deep, text) is not None and json_problem(deep, text.decode()) is not None
    with_nul = {"a": "x\x00"}
    assert json_problem(with_nul, orjson.dumps(with_nul)).field == "a"  # type: ignore[union-attr]
    assert json_problem({"a": "x"}, b'{"a": "x"}') is None
