"""Loading a rules directory: snapshot every file, parse, check, compile, run the inline tests.

Everything is read into memory first, so a rule set is built from one consistent snapshot and its
revision (sha256 over the sorted relative paths and bytes of every file under the directory, hidden
ones excepted) names exactly what was read.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from kefu_host.rules import nodes as n
from kefu_host.rules.builder import parse_file
from kefu_host.rules.checker import Checker
from kefu_host.rules.artifact import Artifact, pack
from kefu_host.rules.compiler import compile_program
from kefu_host.rules.errors import RuleError, RuleSetError
from kefu_host.rules.inline_tests import failures_as_errors, run_tests
from kefu_host.rules.ruleset import RuleSet, rule_info
from kefu_host.rules.schema import Catalogue
from kefu_host.rules.syntax import Names, defined_names
from kefu_host.rules.wordlists import resolve_lists

RULE_SUFFIX = ".rule"
NO_RULE_FILES = (
    "no .rule file found; with no rules every conversation goes to chat.default_team "
    "(set rules.allow_empty = true if that is intended)"
)
_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Snapshot:
    """The bytes of every file under a rules directory, by relative POSIX path, and their revision."""

    files: Mapping[str, bytes]
    revision: str


def read_snapshot(directory: Path | str) -> Snapshot:
    """Read every non-hidden regular file under ``directory``. Raises :class:`RuleSetError` if it cannot."""
    root = Path(directory)
    last: OSError | None = None
    # A ConfigMap swap can remove a file between listing and reading; a second look sees the new set.
    for _ in range(_READ_ATTEMPTS):
        try:
            files = {rel: (root / rel).read_bytes() for rel in _walk(root)}
            return Snapshot(files, revision_of(files))
        except FileNotFoundError as exc:
            last = exc
            if not root.is_dir():
                break
        except OSError as exc:
            last = exc
            break
    if not root.is_dir():
        raise RuleSetError([RuleError(str(directory), None, None, "rules directory not found")])
    raise RuleSetError(
        [RuleError(str(getattr(last, "filename", None) or directory), None, None, f"cannot read: {last}")]
    )


def compute_revision(directory: Path | str) -> str:
    """The revision :func:`load_rules` would give the directory now, without parsing anything."""
    return read_snapshot(directory).revision


def revision_of(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel]
        name = rel.encode("utf-8", "surrogateescape")
        # Lengths make the encoding unambiguous: no two different file sets hash the same stream.
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _walk(root: Path) -> list[str]:
    if not root.is_dir():
        raise FileNotFoundError(str(root))
    found: list[str] = []
    seen: set[str] = set()
    for current, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add(real)
        # Hidden entries are skipped: Kubernetes keeps old ConfigMap versions in ..timestamp directories.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(current, name)
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):
                    continue
            except FileNotFoundError:
                continue  # a dangling symlink is not a file
            found.append(Path(path).relative_to(root).as_posix())
    return sorted(found)


def load_rules(
    directory: Path | str,
    catalogue: Catalogue | None = None,
    teams: Collection[str] | None = None,
    *,
    run_inline_tests: bool = True,
    allow_empty: bool = False,
) -> RuleSet:
    """Load and compile every ``*.rule`` file under ``directory``; raises :class:`RuleSetError`.

    ``teams`` None skips checking team names. With ``run_inline_tests`` a failing inline test is a load error.
    A directory without any ``.rule`` file is an error unless ``allow_empty``.
    """
    snapshot = read_snapshot(directory)
    return build_ruleset(
        snapshot.files,
        catalogue or Catalogue.core(),
        teams,
        display_root=str(directory),
        run_inline_tests=run_inline_tests,
        revision=snapshot.revision,
        allow_empty=allow_empty,
    )


def build_ruleset(
    files: Mapping[str, bytes],
    catalogue: Catalogue,
    teams: Collection[str] | None = None,
    *,
    display_root: str = "",
    run_inline_tests: bool = True,
    revision: str | None = None,
    allow_empty: bool = False,
) -> RuleSet:
    """Build a rule set from file contents by relative path (what :func:`load_rules` does after reading)."""
    return _build(files, catalogue, teams, display_root, run_inline_tests, revision, allow_empty)[1]


def build_artifact(
    files: Mapping[str, bytes],
    catalogue: Catalogue,
    teams: Collection[str] | None = None,
    *,
    display_root: str = "",
    run_inline_tests: bool = True,
    revision: str | None = None,
    allow_empty: bool = False,
) -> Artifact:
    """Like :func:`build_ruleset`, but the result packed to send to another process (see :mod:`.offload`)."""
    return _build(files, catalogue, teams, display_root, run_inline_tests, revision, allow_empty)[0]


def _build(
    files: Mapping[str, bytes],
    catalogue: Catalogue,
    teams: Collection[str] | None,
    display_root: str,
    run_inline_tests: bool,
    revision: str | None,
    allow_empty: bool,
) -> tuple[Artifact, RuleSet]:
    errors: list[RuleError] = []
    parsed: list[n.SourceFile] = []
    sources: dict[str, list[str]] = {}
    rule_files = sorted(name for name in files if name.endswith(RULE_SUFFIX))
    if not rule_files and not allow_empty:
        # Most likely a wrong rules.directory or a half-synced volume, not a decision to route nothing.
        where = display_root or "the rules directory"
        raise RuleSetError([RuleError(where, None, None, NO_RULE_FILES)])
    unparsed = Names()
    for rel in rule_files:
        path = posixpath.join(display_root, rel) if display_root else rel
        text = ""
        try:
            text = _decode(files[rel], path)
            sources[path] = text.splitlines()
            parsed.append(parse_file(text, path))
        except RuleError as exc:
            errors.append(exc)
            unparsed |= defined_names(text or files[rel].decode("utf-8", "replace"))
    lists, _defined, list_errors = resolve_lists(parsed, files, display_root)
    checker = Checker(catalogue, teams, lists, unparsed)
    checked = checker.check(parsed)
    # A file that does not parse comes first (a truncated one, typically): what else broke may follow from it
    later = sorted(list_errors + checker.errors, key=lambda e: (e.path, e.line or 0, e.column or 0))
    if errors or later:
        raise RuleSetError(errors + later)
    compiled = compile_program(checked, catalogue, lists)
    infos = [rule_info(checked.rules[i], checked.groups) for i in compiled.order]
    revision = revision or revision_of(files)
    artifact = pack(revision, display_root, sorted(files), checked, compiled, lists, catalogue, infos)
    ruleset = RuleSet.from_artifact(artifact)
    if run_inline_tests:
        failed = failures_as_errors(run_tests(ruleset, checked.tests), sources)
        if failed:
            raise RuleSetError(failed)
    return artifact, ruleset


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # the bytes before the bad one are valid: line and column count their characters
        before = data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8-sig")
        line = data[: exc.start].count(b"\n") + 1
        column = len(before) + 1
        if exc.end == len(data) and exc.reason == "unexpected end of data":
            message = "unexpected end of file inside a character (the file looks cut short)"
        else:
            message = "file is not valid UTF-8"
        raise RuleError(path, line, column, message, before) from None
