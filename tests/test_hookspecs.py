"""Every hook is typed, documented in its docstring and has its own section in docs/hooks.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from kefu_host import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def spec_names() -> set[str]:
    return {name for name, fn in vars(hookspecs).items() if name.startswith("kefu_") and inspect.isfunction(fn)}


def test_every_hookspec_has_a_section_in_the_hooks_documentation() -> None:
    documented = set(re.findall(r"^## (kefu_\w+)\s*$", DOCS.read_text(encoding="utf-8"), re.M))
    assert spec_names() - documented == set(), "hooks without a section in docs/hooks.md"
    assert documented - spec_names() == set(), "docs/hooks.md documents hooks that do not exist"


def test_every_hookspec_is_typed_and_has_a_docstring() -> None:
    for name in spec_names():
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and fn.__doc__.strip(), name
        assert "return" in fn.__annotations__, name
        params = inspect.signature(fn).parameters
        assert all(p in fn.__annotations__ for p in params), name


def test_sync_hooks_are_real_hooks() -> None:
    assert hookspecs.SYNC_HOOKS <= spec_names()


def _alternatives(annotation: str) -> list[str]:
    """The top-level ``|`` alternatives of an annotation's text."""
    parts, depth, current = [], 0, ""
    for ch in annotation:
        depth += (ch == "[") - (ch == "]")
        if ch == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [*parts, current.strip()]


def documented_signature(name: str) -> str:
    """The spec's signature as docs/hooks.md writes it: parameters as typed, the return type without the
    ``Awaitable[...]`` an async implementation gives (the section says "may be async" instead)."""
    fn = getattr(hookspecs, name)
    params = ", ".join(f"{p}: {fn.__annotations__[p]}" for p in inspect.signature(fn).parameters)
    returns = " | ".join(a for a in _alternatives(fn.__annotations__["return"]) if not a.startswith("Awaitable["))
    return f"{name}({params}) -> {returns}"


def test_every_hook_section_opens_with_the_specs_signature() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in sorted(spec_names()):
        section = re.search(rf"^## {name}\s*\n\n`([^`]+)`(.*?)\n\n", text, re.M | re.S)
        assert section is not None, f"{name}: the section does not open with its signature in backticks"
        assert section.group(1) == documented_signature(name), name
        kind = "**sync**" if name in hookspecs.SYNC_HOOKS else "may be async"
        assert kind in section.group(2), f"{name}: the section should say {kind}"


def test_the_signature_check_sees_a_changed_parameter() -> None:
    assert documented_signature("kefu_conversation_closed") == (
        "kefu_conversation_closed(conversation: ConversationView, closed_by: str, host: PluginHost) -> None"
    )
    assert documented_signature("kefu_conversation_facts").endswith("-> Mapping[str, Any] | None")
