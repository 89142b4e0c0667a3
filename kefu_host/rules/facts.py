"""Facts: what the host knows when it asks for a decision, as a flat mapping of dotted keys.

``{"customer.ltv": 25000, "message.text": "...", "queue.length": {"support": 12}}``: one key per field;
fields that take a parameter (``queue.length("support")``) or a key (``customer.attributes["plan"]``) map
to a mapping keyed by it. A key that is absent, or whose value is None or of the wrong type, is *missing*:
``is present`` is false and every comparison on it is false.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kefu_host.rules.nodes import FieldRef

Facts = Mapping[str, Any]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMBER_TYPES = (int, float)
_LIST_TYPES = (list, tuple, set, frozenset)


def facts_from_json(obj: Any) -> dict[str, Any]:
    """Flat facts from JSON: nested objects (``{"customer": {"ltv": 1}}``), dotted keys, or both.

    Nesting stops at the first key that names a whole field, so ``{"queue": {"length": {"support": 3}}}``
    and ``{"queue.length": {"support": 3}}`` both give ``{"queue.length": {"support": 3}}``.
    """
    if not isinstance(obj, Mapping):
        raise ValueError("facts must be a JSON object")
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        key = str(key)
        if "." in key or not isinstance(value, Mapping):
            flat[key] = value
            continue
        for sub, inner in value.items():
            flat[f"{key}.{sub}"] = inner
    return flat


def time_facts(moment: dt.datetime) -> dict[str, Any]:
    """``time.hour`` and ``time.weekday`` for an aware datetime already in the rules' time zone."""
    return {"time.hour": moment.hour, "time.weekday": _WEEKDAYS[moment.weekday()]}


def read_fact(facts: Facts, ref: FieldRef) -> Any:
    """The value ``ref`` reads from ``facts``, None when missing."""
    value = facts.get(ref.name)
    selector = ref.param if ref.param is not None else ref.key
    if selector is None:
        return value
    return value.get(selector) if isinstance(value, Mapping) else None


def is_number(value: Any) -> bool:
    # bool is an int subclass, but a flag is never a number here.
    return type(value) in _NUMBER_TYPES


def folded_list(value: Any) -> frozenset[str] | None:
    """A string list fact as a set of case-folded strings, or None when it is not a list."""
    if type(value) not in _LIST_TYPES:
        return None
    return frozenset(item.casefold() for item in value if type(item) is str)


def dynamic_contains(value: Any, word: str) -> bool:
    """``contains`` on a value whose type is known only at run time: substring of a text, or list member."""
    if type(value) is str:
        return word in value.casefold()
    folded = folded_list(value)
    return folded is not None and word in folded
