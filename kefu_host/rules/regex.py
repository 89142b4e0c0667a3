"""Rule regexes (``matches``) on RE2: matching time is linear in the text, whatever the pattern.

Python's ``re`` backtracks: ``(a+)+$`` against 24 ``a`` and a ``!`` runs for seconds, and a visitor writes the
text. RE2 never backtracks, so it refuses what needs backtracking (backreferences, lookarounds, atomic
groups); such patterns are load errors that say so. Texts are matched as UTF-8 bytes encoded with
``surrogatepass``, because a JSON string may carry a lone surrogate that plain UTF-8 cannot encode.
"""

from __future__ import annotations

import re
from typing import Any

import re2

#: The RE2 options of every rule regex. Errors are reported located, by the checker; RE2's log line is noise.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.never_capture = True  # rules only ask whether a text matches; no capture bookkeeping

#: A counted repetition, read from the pattern text (loaded rules, not visitor text).
_REPEAT = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
_FLAGS = re.compile(r"\(\?[A-Za-z-]*\)")
_HINTS = (
    ("invalid perl operator: (?=", "lookahead (?=...) is not supported"),
    ("invalid perl operator: (?!", "lookahead (?!...) is not supported"),
    ("invalid perl operator: (?<=", "lookbehind (?<=...) is not supported"),
    ("invalid perl operator: (?<!", "lookbehind (?<!...) is not supported"),
    ("invalid perl operator: (?>", "atomic groups (?>...) are not supported"),
    ("invalid perl operator: (?P=", "backreferences (?P=name) are not supported"),
    ("invalid escape sequence: \\u", "write a code point as \\x{4e00}, not \\u4e00"),
    ("invalid escape sequence: \\U", "write a code point as \\x{1f600}, not \\U0001f600"),
    ("invalid escape sequence: \\Z", "write \\z for the end of the text"),
    ("invalid repetition size", "a repetition count is at most 1000"),
    ("bad repetition operator: ++", "possessive quantifiers (a++) are not supported"),
    ("pattern too large", "the pattern is too large for RE2 (it compiles to over 8 MB)"),
)


class RegexError(ValueError):
    """A pattern RE2 cannot compile: ``problem`` says why ``fragment`` is the part at fault."""

    def __init__(self, problem: str, fragment: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fragment = fragment


def compile_regex(pattern: str) -> Any:
    """The RE2 regex of a rule pattern (RE2 syntax); raises :class:`RegexError`."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise _explain(exc) from None
    except (TypeError, ValueError) as exc:  # e.g. a NUL byte the binding refuses
        raise RegexError(str(exc), "") from None


def utf8(text: str) -> bytes:
    """What a regex sees of ``text``: its UTF-8 bytes, lone surrogates passed through instead of raising."""
    return text.encode("utf-8", "surrogatepass")


def search(regex: Any, text: str) -> bool:
    """Whether ``regex`` (from :func:`compile_regex`) matches anywhere in ``text``."""
    return regex.search(utf8(text)) is not None


def _explain(exc: Exception) -> RegexError:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    kind, _, fragment = message.partition(": ")
    if kind == "invalid escape sequence" and fragment[1:2].isdigit():
        return RegexError(f"{fragment} is a backreference; backreferences are not supported", fragment)
    for prefix, hint in _HINTS:
        if message.startswith(prefix):
            return RegexError(f"{hint} ({message})", fragment)
    return RegexError(message, fragment)


def required_literals(pattern: str, shortest: int = 2) -> tuple[str, ...]:
    """Literal runs every match of ``pattern`` must contain, for filtering texts before running the regex.

    Only top-level runs of plain characters count (inside a group or an alternation nothing is certain), a
    character followed by a quantifier is left out, and a pattern with an ``i`` flag has none. Anything this
    reader does not understand ends the current run, or gives no literals at all: it may miss a literal, never
    invent one. Text lacking a literal cannot match, and as case folding maps character by character, that
    holds on case-folded text too. Written for RE2 syntax, so it needs no private parser of ``re``.
    """
    runs: list[str] = []
    current: list[str] = []
    last_was_literal = False
    i, size = 0, len(pattern)

    def end_run() -> None:
        nonlocal current
        runs.append("".join(current))
        current = []

    while i < size:
        char = pattern[i]
        literal: str | None = None
        if char == "\\":
            literal, i = _escape(pattern, i)
        elif char == "[":
            i = _skip_class(pattern, i)
        elif char == "(":
            if pattern.startswith("(?", i) and _sets_ignore_case(pattern, i):
                return ()
            flags = _FLAGS.match(pattern, i)
            if flags:  # (?s) sets flags and matches nothing: a quantifier after it binds to what came before
                i = flags.end()
                continue
            i = _skip_group(pattern, i)
        elif char == "|" or char == ")":
            return ()  # a top-level alternation (or a stray parenthesis): no run is certain
        elif char in "*+?{":
            if last_was_literal and current:
                current.pop()  # the character before may be absent or repeated
            # {n}, {n,} and {n,m} repeat; any other { is a literal to RE2, safely skipped here
            repeat = _REPEAT.match(pattern, i) if char == "{" else None
            i = repeat.end() if repeat else i + 1
        elif char in ".^$":
            i += 1
        else:
            literal, i = char, i + 1
        if i < 0:
            return ()
        if literal is None:
            end_run()
            last_was_literal = False
        else:
            current.append(literal)
            last_was_literal = True
    end_run()
    return tuple(dict.fromkeys(run for run in runs if len(run) >= shortest))


def _escape(pattern: str, i: int) -> tuple[str | None, int]:
    """The literal an escape at ``i`` stands for (None for a class or an assertion) and where it ends; -1 when
    the escape is not understood."""
    if i + 1 >= len(pattern):
        return None, -1
    nxt = pattern[i + 1]
    if not nxt.isascii() or not nxt.isalnum():
        return nxt, i + 2  # an escaped punctuation character is itself
    if nxt == "x":
        if pattern.startswith("{", i + 2):
            end = pattern.find("}", i + 3)
            digits = pattern[i + 3 : end] if end > 0 else ""
            return (_char(digits), end + 1) if _char(digits) else (None, -1)
        digits = pattern[i + 2 : i + 4]
        return (_char(digits), i + 4) if len(digits) == 2 and _char(digits) else (None, -1)
    if nxt in "pP":
        if pattern.startswith("{", i + 2):
            end = pattern.find("}", i + 3)
            return None, (end + 1 if end > 0 else -1)
        return None, i + 3
    if nxt in "dDsSwWbBAzC":
        return None, i + 2
    return None, -1  # octal, \Q...\E, control escapes: not worth reading


def _char(digits: str) -> str | None:
    try:
        value = int(digits, 16)
        return chr(value) if digits and value < 0x110000 and not 0xD800 <= value < 0xE000 else None
    except ValueError:
        return None


def _skip_class(pattern: str, i: int) -> int:
    """Index just after the character class starting at ``i``, or -1."""
    j = i + 1
    if pattern.startswith("^", j):
        j += 1
    if pattern.startswith("]", j):
        j += 1  # a ] first in a class is a literal
    while j < len(pattern):
        if pattern[j] == "\\":
            j += 2
        elif pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            j = end + 2 if end >= 0 else j + 1
        elif pattern[j] == "]":
            return j + 1
        else:
            j += 1
    return -1


def _skip_group(pattern: str, i: int) -> int:
    """Index just after the group starting at ``i``, or -1."""
    depth, j = 0, i
    while j < len(pattern):
        char = pattern[j]
        if char == "\\":
            j += 2
            continue
        if char == "[":
            j = _skip_class(pattern, j)
            if j < 0:
                return -1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _sets_ignore_case(pattern: str, i: int) -> bool:
    """Whether the ``(?`` at ``i`` is a flag group naming ``i`` (``(?i)``, ``(?si:...)``, ``(?-i)``)."""
    j = i + 2
    while j < len(pattern) and (pattern[j].isalpha() or pattern[j] == "-"):
        j += 1
    flags = pattern[i + 2 : j]
    return "i" in flags and pattern.startswith((")", ":"), j)
