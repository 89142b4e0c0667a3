"""The field and action catalogue, and how plugins extend it."""

from __future__ import annotations

import pytest

from kefu_host.rules import ActionSpec, ArgType, Catalogue, FieldSpec, FieldType


def test_the_core_catalogue_has_the_documented_fields_and_actions() -> None:
    core = Catalogue.core()
    assert core.fields["customer.ltv"].type is FieldType.NUMBER
    assert core.fields["customer.tags"].type is FieldType.STRING_LIST
    assert core.fields["customer.attributes"].type is FieldType.MAP
    assert core.fields["conversation.wait_time"].type is FieldType.DURATION
    assert core.fields["queue.length"].param == "team"
    assert set(core.actions) == {
        "assign_team",
        "transfer",
        "overflow_to",
        "prefer_agent",
        "set_priority",
        "tag",
        "auto_reply",
        "stop",
    }


def test_extended_returns_a_new_catalogue_and_leaves_the_old_one_alone() -> None:
    core = Catalogue.core()
    more = core.extended(
        [FieldSpec("ticket.open_count", FieldType.NUMBER, "open tickets")],
        [ActionSpec("create_ticket", (ArgType.TEXT,), "open a ticket")],
    )
    assert "ticket.open_count" in more.fields and "create_ticket" in more.actions
    assert "ticket.open_count" not in core.fields


def test_names_cannot_be_taken_twice() -> None:
    with pytest.raises(ValueError, match="already defined"):
        Catalogue.core().extended([FieldSpec("customer.ltv", FieldType.NUMBER, "again")])
    with pytest.raises(ValueError, match="already defined"):
        Catalogue.core().extended(actions=[ActionSpec("tag", (ArgType.TEXT,), "again")])


@pytest.mark.parametrize("name", ["ltv", "customer.", "Customer ltv", "1x.y"])
def test_field_names_must_be_dotted_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        FieldSpec(name, FieldType.NUMBER, "x")


@pytest.mark.parametrize("name", ["end", "not", "a.b", "two words", ""])
def test_action_names_must_be_plain_non_keyword_words(name: str) -> None:
    with pytest.raises(ValueError):
        ActionSpec(name, (), "x")
