"""Errors the rules loader reports: a located :class:`RuleError` each, gathered in a :class:`RuleSetError`."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Sequence


class RuleError(Exception):
    """A problem at one place in a rule or list file.

    ``str()`` gives ``file:line:col: message``, then the source line and a caret under the column, the
    shape compilers use, so editors and CI logs can jump to it. ``line``/``column`` are 1-based and are
    None for problems that belong to no position (an unreadable directory).
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        column: int | None,
        message: str,
        source_line: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.source_line = source_line
        super().__init__(self.render())

    @property
    def location(self) -> str:
        """``file:line:col``, or just the file when the error has no position."""
        if self.line is None:
            return self.path
        return f"{self.path}:{self.line}:{self.column or 1}"

    def headline(self) -> str:
        return f"{self.location}: {self.message}"

    def render(self) -> str:
        if self.source_line is None or self.line is None:
            return self.headline()
        line = self.source_line.rstrip("\r\n")
        return f"{self.headline()}\n    {line}\n    {_caret_padding(line, (self.column or 1) - 1)}^"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "column": self.column, "message": self.message}

    def __reduce__(self) -> tuple[object, ...]:
        return (RuleError, (self.path, self.line, self.column, self.message, self.source_line))


class RuleSetError(Exception):
    """Everything wrong with one attempt to load a rule set; the set was not loaded."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        if not errors:
            raise ValueError("RuleSetError needs at least one RuleError")
        self.errors: tuple[RuleError, ...] = tuple(errors)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)

    def summary(self) -> str:
        """The first error's headline and how many more there are: one line for logs and status pages."""
        more = len(self.errors) - 1
        return self.errors[0].headline() + (f" (and {more} more error{'s' * (more > 1)})" if more else "")

    def __reduce__(self) -> tuple[object, ...]:
        return (RuleSetError, (self.errors,))


def _caret_padding(line: str, upto: int) -> str:
    # Keep tabs and count East Asian wide characters twice so the caret lands under the right glyph.
    out = []
    for char in line[:upto]:
        if char == "\t":
            out.append("\t")
        elif unicodedata.east_asian_width(char) in ("W", "F"):
            out.append("  ")
        else:
            out.append(" ")
    return "".join(out)


def did_you_mean(word: str, choices: Iterable[str], render: str = "{}") -> str:
    """``", did you mean X?"`` for the closest choice, or an empty string when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f", did you mean {render.format(close[0])}?" if close else ""
