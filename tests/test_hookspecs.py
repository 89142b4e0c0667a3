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
