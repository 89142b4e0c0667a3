"""Parsing one rule file with lark's LALR parser; lark's exceptions become plain :class:`RuleError` values."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedToken

from kefu_host.rules.errors import RuleError, did_you_mean

#: Deepest nesting of conditions accepted; deeper trees are a typo or an attack, and would exhaust the stack.
MAX_DEPTH = 64

_WORDS = {
    "NAME": "a name",
    "DOTTED": "a field",
    "STRING": "a string",
    "NUMBER": "a number",
    "DURATION": "a duration",
    "LIST_REF": "a list like $name",
    "CMP_OP": "a comparison",
    "$END": "end of file",
}
_PUNCT = {"_EQUAL": "=", "_LPAR": "(", "_RPAR": ")", "_LSQB": "[", "_RSQB": "]", "_COMMA": ","}
_BLOCK_STARTS = {"_RULE", "_TEST", "_LIST", "_GROUP"}
_CONDITION_STARTS = {"DOTTED", "_NOT", "_LPAR", "TRUE", "FALSE"}


@functools.cache
def _parser() -> Lark:
    # The basic lexer reserves every keyword everywhere, so "rule" can never be read as an action name.
    return Lark.open_from_package(
        "kefu_host.rules",
        "grammar.lark",
        ("",),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def parse_tree(text: str, path: str) -> Tree[Token]:
    """The lark tree of ``text``; raises :class:`RuleError` for the first syntax error."""
    lines = text.splitlines()
    try:
        tree = _parser().parse(text)
    except UnexpectedToken as exc:
        line, column, message = _token_error(exc, text)
        raise _error(path, lines, line, column, message) from None
    except UnexpectedCharacters as exc:
        raise _error(path, lines, exc.line, exc.column, _character_error(exc, text)) from None
    except LarkError as exc:  # lark promises only these two for LALR; anything else is still a syntax error
        raise _error(path, lines, 1, 1, f"cannot parse: {exc}") from None
    _check_depth(tree, path, lines)
    return tree


@dataclass(frozen=True)
class Names:
    """Rule ids, list and group names a file defines."""

    rules: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def __or__(self, other: Names) -> Names:
        return Names(self.rules | other.rules, self.lists | other.lists, self.groups | other.groups)


def defined_names(text: str) -> Names:
    """What ``text`` defines, read from its tokens alone, so it works on a file that does not parse.

    After a syntax error the file defines nothing; these are the names other files must not be told are
    unknown because of it. Lexing stops at the first character no token starts with (a truncated string).
    """
    found: dict[str, set[str]] = {"_RULE": set(), "_LIST": set(), "_GROUP": set()}
    previous = keyword = None
    try:
        for token in _parser().lex(text):
            if keyword is not None and token.type in ("NAME", "DOTTED"):
                found[keyword].add(str(token))
            # "in group routing" names a group that some file defines; only "group routing match" defines it
            keyword = token.type if token.type in found and previous != "_IN" else None
            previous = token.type
    except LarkError:
        pass
    return Names(frozenset(found["_RULE"]), frozenset(found["_LIST"]), frozenset(found["_GROUP"]))


def _character_error(exc: UnexpectedCharacters, text: str) -> str:
    if exc.char == '"':
        return "unterminated string"  # at its opening quote: the string runs to the end of the line or file
    if text[exc.pos_in_stream :].strip() == exc.char:  # the file ends here, cut short after "customer."
        before = text[: exc.pos_in_stream].split()
        return f"unexpected end of file after '{(before[-1] if before else '') + exc.char}'"
    return f"unexpected character {exc.char!r}"


def _error(path: str, lines: list[str], line: int, column: int, message: str) -> RuleError:
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    return RuleError(path, line, column, message, source)


def _token_error(exc: UnexpectedToken, text: str) -> tuple[int, int, str]:
    token: Token = exc.token
    try:
        accepts = set(exc.interactive_parser.accepts())  # type: ignore[no-untyped-call]
    except LarkError:
        accepts = set(exc.expected)
    if token.type == "$END":
        line, column = _end_position(text)
        if "_END" in accepts:
            return line, column, "unexpected end of file, missing 'end'"
        return line, column, f"unexpected end of file, expected {_expected(accepts)}"
    line, column = token.line or 1, token.column or 1
    found = token.type
    if "_END" in accepts and found in _BLOCK_STARTS:
        return line, column, f"missing 'end' before {_describe(token)}"
    if "_THEN" in accepts and found in {"NAME", "_END"}:
        return line, column, "missing 'then'"
    if "_WHEN" in accepts and (found == "_THEN" or found in _CONDITION_STARTS):
        return line, column, "missing 'when'"
    if "_EXPECT" in accepts and found in {"_FIRED", "NAME", "_NOT", "_END"}:
        return line, column, "missing 'expect'"
    message = f"unexpected {_describe(token)}, expected {_expected(accepts)}"
    if found == "NAME":
        keywords = [name.lstrip("_").lower() for name in accepts if name not in _WORDS and name not in _PUNCT]
        message += did_you_mean(str(token.value), keywords, "'{}'")
    return line, column, message


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank character: where the missing text belongs."""
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    return line, len(stripped) - (stripped.rfind("\n") + 1) + 1


def _display(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    if terminal in _PUNCT:
        return f"'{_PUNCT[terminal]}'"
    return f"'{terminal.lstrip('_').lower()}'"


def _expected(accepts: set[str]) -> str:
    if "NAME" in accepts:
        accepts = accepts - {"DOTTED"}  # a rule id may be dotted or not: "a name" says both
    names = sorted({_display(t) for t in accepts}, key=lambda s: (s.startswith("a "), s))
    if not names:
        return "nothing more"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _describe(token: Token) -> str:
    value = str(token.value)
    shown = value if len(value) <= 30 else value[:27] + "..."
    if token.type in ("STRING", "NUMBER", "DURATION", "NAME", "DOTTED", "LIST_REF"):
        kind = {"NAME": "word", "DOTTED": "field", "LIST_REF": "list"}.get(token.type, token.type.lower())
        return f"{kind} {shown}"
    return f"'{shown}'"


def _check_depth(tree: Tree[Token], path: str, lines: list[str]) -> None:
    # Iterative on purpose: the point is to refuse trees too deep for the recursive steps that follow.
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            raise _error(
                path, lines, meta.line, meta.column, f"condition nested too deeply (over {MAX_DEPTH} levels)"
            )
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))
