"""Checking an envelope and its data, with errors that name the field path (``data.amount``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kefu_host.events.types import EventType
from kefu_host.inputs import json_problem

MAX_ID = 191
#: ``occurred_at`` may not lie before this: older times are not business events (and year-1 times with an offset
#: cannot even be turned into UTC).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidEvent(Exception):
    """The event does not fit its envelope or its type's schema; ``field`` is the dotted path of the problem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


#: Keywords that mean the same in draft 7 (what fastjsonschema compiles) as in draft 2020-12.
_DRAFT7_SAFE = frozenset(
    "type properties required additionalProperties items minItems maxItems uniqueItems minLength maxLength pattern "
    "minimum maximum exclusiveMinimum exclusiveMaximum multipleOf enum const anyOf allOf oneOf not format "
    "minProperties maxProperties propertyNames patternProperties title description default examples".split()
)


def _draft7_safe(schema: Any) -> bool:
    if isinstance(schema, dict):
        return all(k in _DRAFT7_SAFE and _draft7_safe(v) for k, v in schema.items() if k != "properties") and all(
            _draft7_safe(v) for v in schema.get("properties", {}).values()
        ) and all(_draft7_safe(v) for v in schema.get("patternProperties", {}).values())
    if isinstance(schema, list):
        return all(_draft7_safe(v) for v in schema)
    return True


class Validators:
    """One compiled validator per event type.

    Valid events are checked by fastjsonschema's generated code (a few microseconds); a failing one is checked again
    by jsonschema, whose error names the field and the problem plainly. Schemas using keywords whose meaning
    changed after draft 7 are checked by jsonschema alone.
    """

    def __init__(self, types: Iterable[EventType], max_future: float = 300.0) -> None:
        #: How far ``occurred_at`` may lie ahead of the host's clock (``events.tolerance``): a sender whose clock
        #: runs years ahead would otherwise pin every field it sets, as field times let only newer events win.
        self.max_future = timedelta(seconds=max_future)
        self.types: dict[str, EventType] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        self._fast: dict[str, Callable[[Any], Any]] = {}
        for event_type in types:
            Draft202012Validator.check_schema(event_type.schema)
            self.types[event_type.name] = event_type
            self._validators[event_type.name] = Draft202012Validator(event_type.schema)
            if _draft7_safe(event_type.schema):
                self._fast[event_type.name] = fastjsonschema.compile(dict(event_type.schema))

    def check(
        self, envelope: Any, prefix: str = "", now: datetime | None = None, *, text: bytes | None = None
    ) -> tuple[str, str, datetime, Mapping[str, Any]]:
        """(id, type, occurred_at, data) of a valid envelope; raises :class:`InvalidEvent`.

        Besides its type's schema, an event keeps the rules of :func:`kefu_host.inputs.json_problem` (no text
        holding U+0000, limited nesting; ``text``, the JSON the envelope was read from, lets those checks skip their
        walks), and ``occurred_at`` lies between 1970 and ``max_future`` from ``now``.
        """
        if not isinstance(envelope, dict):
            raise InvalidEvent(prefix.rstrip(".") or "(body)", "must be a JSON object with id, type, occurred_at, data")
        if envelope.keys() - _ENVELOPE:
            unknown = sorted(envelope.keys() - _ENVELOPE)[0]
            raise InvalidEvent(prefix + unknown, "unknown envelope field (expected id, type, occurred_at, data)")
        problem = json_problem(envelope, text, prefix.rstrip("."))
        if problem is not None:
            raise InvalidEvent(problem.field, problem.message)
        event_id = envelope.get("id")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID:
            raise InvalidEvent(prefix + "id", f"must be a string of 1 to {MAX_ID} characters")
        kind = envelope.get("type")
        if not isinstance(kind, str) or kind not in self.types:
            shown = kind if not isinstance(kind, str) or len(kind) <= 100 else kind[:100] + "..."
            raise InvalidEvent(prefix + "type", f"unknown event type {shown!r}; known: {', '.join(sorted(self.types))}")
        occurred_at = _timestamp(envelope.get("occurred_at"), prefix + "occurred_at")
        latest = (now or datetime.now(UTC)) + self.max_future
        if not EARLIEST <= occurred_at <= latest:
            raise InvalidEvent(prefix + "occurred_at", f"{occurred_at.isoformat()} is not between "
                               f"{EARLIEST.isoformat()} and {self.max_future.total_seconds():g} s from now")
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise InvalidEvent(prefix + "data", "must be a JSON object")
        fast = self._fast.get(kind)
        if fast is not None:
            try:
                fast(data)
                return event_id, kind, occurred_at, data
            except fastjsonschema.JsonSchemaValueException:
                pass  # say exactly what is wrong below
        errors = sorted(self._validators[kind].iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            error = errors[0]
            raise InvalidEvent(_path(prefix + "data", error), error.message)
        return event_id, kind, occurred_at, data


_ENVELOPE = frozenset({"id", "type", "occurred_at", "data"})


def _path(base: str, error: ValidationError) -> str:
    path = base
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next((p for p in error.validator_value if p not in error.instance), None)
        if missing:
            path += f".{missing}"
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = next((p for p in error.instance if p not in allowed), None)
        if extra:
            path += f".{extra}"
    return path


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(field, "must be an RFC 3339 timestamp string with a time zone")
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11 reads RFC 3339, "Z" included
    except ValueError:
        raise InvalidEvent(field, f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise InvalidEvent(field, f"{value!r} has no time zone (add Z or +08:00)")
    return parsed
