"""Named word lists: ``list name = [..]`` inline or ``file("lists/x.txt")`` inside the rules directory."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping

from kefu_host.rules import nodes as n
from kefu_host.rules.errors import RuleError

_TRAILING_COMMENT = re.compile(r"\s+#.*$")


def parse_word_list(data: bytes, path: str) -> tuple[str, ...]:
    """Words of a list file: one per line, blank lines and ``#`` comments ignored, order kept."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RuleError(path, line, 1, "list file is not valid UTF-8") from None
    words = []
    for raw in text.splitlines():
        word = _TRAILING_COMMENT.sub("", raw).strip()
        if word and not word.startswith("#"):
            words.append(word)
    return tuple(words)


def normalise_list_path(ref: str) -> str | None:
    """``ref`` as a clean relative path inside the rules directory, or None when it would leave it."""
    if not ref or ref.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", ref):
        return None
    clean = posixpath.normpath(ref.replace("\\", "/"))
    if clean == ".." or clean.startswith("../") or clean == ".":
        return None
    return clean


def resolve_lists(
    files: Iterable[n.SourceFile], snapshot: Mapping[str, bytes], display_root: str
) -> tuple[dict[str, tuple[str, ...]], dict[str, n.ListDef], list[RuleError]]:
    """Every list's words by name, where each was defined, and the errors found on the way."""
    words: dict[str, tuple[str, ...]] = {}
    defined: dict[str, n.ListDef] = {}
    errors: list[RuleError] = []
    for source in files:
        for item in source.items:
            if not isinstance(item, n.ListDef):
                continue
            if item.name in defined:
                first = defined[item.name].loc
                errors.append(
                    _at(source, item.loc, f"duplicate list {item.name} (first defined at {_where(first)})")
                )
                continue
            defined[item.name] = item
            try:
                words[item.name] = _words_of(source, item, snapshot, display_root)
            except RuleError as exc:
                errors.append(exc)
                words[item.name] = ()
    return words, defined, errors


def _words_of(
    source: n.SourceFile, item: n.ListDef, snapshot: Mapping[str, bytes], root: str
) -> tuple[str, ...]:
    if item.words is not None:
        for lit in item.words:
            if lit.kind != "string":
                raise _at(source, lit.loc, f"list words must be strings, got {lit.kind} {lit.text}")
        return tuple(str(lit.value) for lit in item.words)
    assert item.file is not None
    ref = str(item.file.value)
    clean = normalise_list_path(ref)
    if clean is None:
        raise _at(source, item.file.loc, f"list file must be inside the rules directory: {ref}")
    if clean not in snapshot:
        raise _at(source, item.file.loc, f"list file not found: {ref}")
    return parse_word_list(snapshot[clean], posixpath.join(root, clean) if root else clean)


def _at(source: n.SourceFile, loc: n.Loc, message: str) -> RuleError:
    return RuleError(source.path, loc.line, loc.column, message, source.line(loc.line))


def _where(loc: n.Loc) -> str:
    return f"{loc.path}:{loc.line}:{loc.column}"
