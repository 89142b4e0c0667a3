"""What the host takes from outside, read the same way on every surface (HTTP, WebSocket frames, events).

* Integers: ASCII digits only (``"²".isdigit()`` is true, yet ``int("²")`` fails), at most a few dozen of them
  (Python refuses ``int()`` of more than 4,300 digits), and inside a range the database can store: ids in 64 bits,
  seqs and levels in 32 (:data:`ID_RANGE`, :data:`INT32_RANGE`). A JSON number with a zero fraction (``5.0``) is the
  integer it names, as in JSON Schema.
* Text: never U+0000. PostgreSQL cannot store it in text or JSON, so every database refuses it, at the door.
* JSON: nested at most :data:`MAX_DEPTH` levels. orjson reads 1,024 levels but writes only 254, so anything deeper
  that the host stores or echoes would fail later, after it was accepted.
* Secrets: compared in constant time as UTF-8 bytes (``hmac.compare_digest`` refuses non-ASCII ``str``).

Each failure is a :class:`BadInput` naming the field, which every surface turns into its documented error.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, NamedTuple

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class IntRange(NamedTuple):
    minimum: int
    maximum: int

    def __str__(self) -> str:
        return f"an integer from {self.minimum} to {self.maximum}"


#: Row ids (conversations, customers, agents): 64-bit columns.
ID_RANGE = IntRange(1, INT64_MAX)
#: Seqs, priorities, levels, counts: 32-bit columns.
INT32_RANGE = IntRange(0, INT32_MAX)
#: The longest decimal text of an integer in :data:`ID_RANGE` (with a sign); longer text is out of range.
_MAX_DIGITS = len(str(INT64_MAX)) + 1


class BadInput(ValueError):
    """A value from outside that the host will not use; ``field`` names it (``after_seq``, ``data.name``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def parse_int(text: str, field: str, bounds: IntRange) -> int:
    """The integer written as ``text`` (ASCII digits, a leading ``-`` only if ``bounds`` allow negatives)."""
    digits = text[1:] if text.startswith("-") and bounds.minimum < 0 else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_DIGITS:
        raise BadInput(field, f"must be {bounds}")
    return in_range(int(text), field, bounds)


def json_int(value: Any, field: str, bounds: IntRange) -> int:
    """A JSON value that must be an integer within ``bounds`` (``5.0`` counts as 5; ``true`` does not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInput(field, f"must be {bounds}")
    return in_range(value, field, bounds)


def in_range(value: int, field: str, bounds: IntRange) -> int:
    if not bounds.minimum <= value <= bounds.maximum:
        raise BadInput(field, f"must be {bounds}")
    return value


NUL = "\x00"
#: Deepest nesting of objects and arrays accepted in a JSON body, frame or event (the outermost object is level 1).
MAX_DEPTH = 32


def json_problem(value: Any, text: str | bytes | None = None, path: str = "") -> BadInput | None:
    """Why a JSON value from outside may not be used (text holding NUL, nesting past :data:`MAX_DEPTH`), or None.

    ``text``, the JSON it was read from, lets both walks be skipped for the usual value: JSON writes NUL only as
    the escape ``\\u0000``, and no value is nested deeper than the brackets its text holds.
    """
    if text is None:
        may_hold_nul, brackets = True, MAX_DEPTH + 1
    elif isinstance(text, bytes):  # one scan for each: these run on every frame and event
        may_hold_nul, brackets = b"\\u0000" in text, text.count(b"[") + text.count(b"{")
    else:
        may_hold_nul, brackets = "\\u0000" in text, text.count("[") + text.count("{")
    if may_hold_nul:
        found = nul_field(value, path)
        if found is not None:
            return BadInput(found, "must not contain U+0000 (NUL)")
    if brackets > MAX_DEPTH:
        found = _too_deep(value, path, MAX_DEPTH)
        if found is not None:
            return BadInput(found, f"nests deeper than {MAX_DEPTH} levels of objects and arrays")
    return None


def _too_deep(value: Any, path: str, room: int) -> str | None:
    """The path of the first object or array that lies more than ``room`` levels down, or None."""
    if isinstance(value, Mapping | list | tuple):
        if room == 0:
            return path or "(body)"
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, inner in items:
            if isinstance(inner, Mapping | list | tuple):
                inner_path = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
                found = _too_deep(inner, inner_path, room - 1)
                if found is not None:
                    return found
    return None


def nul_field(value: Any, path: str = "") -> str | None:
    """The path (``data.attributes.note``, ``events[2].id``) of the first text in a JSON value holding U+0000,
    key or value; None when there is none."""
    if isinstance(value, str):
        return (path or "(body)") if NUL in value else None
    if isinstance(value, Mapping):
        for key, inner in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return key_path.replace(NUL, "\\u0000")
            found = nul_field(inner, key_path)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for n, inner in enumerate(value):
            found = nul_field(inner, f"{path}[{n}]")
            if found is not None:
                return found
    return None


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two texts, any characters (a header may carry ``é``)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))
