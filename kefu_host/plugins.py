"""Finding, importing, validating and registering plugins; the status of each one.

Sources, in load order: the host's own built-in plugins, ``[plugins] load`` in kefu.toml, ``--plugin PATH`` on the
command line, then every installed ``kefu_host`` entry point. A path is a package directory (with
``__init__.py``) or a single ``.py`` file; the plugin's name is the directory name, the file stem or the entry-point
name (a ``[plugins] load`` name that is an entry point's, or its module's, takes the entry point's name). A plugin
module may define ``kefu_plugin(settings) -> object``; the host then registers the returned object (configured from
``[plugins.NAME]`` and command-line JSON) instead of the module.

A plugin that fails to import, to configure or to validate is recorded as ``failed`` with the reason and the host
goes on, unless ``[plugins.NAME] required = true``: then :class:`PluginLoadError` stops startup.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pluggy

from kefu_host import hookspecs
from kefu_host.config import Config, looks_like_path, resolve_path
from kefu_host.plugin_registry import PluginRecord, PluginRegistry, Status

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginLoadError",
    "PluginRecord",
    "PluginRegistry",
    "PluginSource",
    "Status",
    "discover",
    "load_plugins",
    "new_plugin_manager",
]

ENTRY_POINT_GROUP = "kefu_host"


#: Why a ``wrapper=True`` / ``hookwrapper=True`` implementation is refused (see docs/hooks.md).
WRAPPERS_REFUSED = (
    "hook wrappers (wrapper=True, hookwrapper=True) are refused: async implementations are awaited after pluggy's "
    "call returns, so a wrapper would see unawaited results and none of the failures; to observe calls, use "
    "pluggy's add_hookcall_monitoring on the host's plugin manager"
)


class PluginLoadError(Exception):
    """A plugin marked ``required`` could not be loaded; the message names it and why."""


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin comes from, before it is imported."""

    name: str
    origin: Literal["builtin", "config", "command line", "entry point"]
    location: str  # a file path, a module name or an entry point's value
    settings: Mapping[str, Any] = field(default_factory=dict)


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("kefu_host")
    pm.add_hookspecs(hookspecs)
    return pm


def discover(
    config: Config,
    cli_paths: Sequence[tuple[str, Mapping[str, Any]]] = (),
    builtins: Sequence[str] = (),
    entry_points: bool = True,
) -> list[PluginSource]:
    """Every plugin source in load order, without importing anything but entry-point metadata."""
    sources = [PluginSource(_builtin_name(m), "builtin", m) for m in builtins]
    installed = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)) if config.plugins.load else []
    for entry in config.plugins.load:
        if looks_like_path(entry):
            path = resolve_path(config, Path(entry))
            sources.append(PluginSource(_name_from_path(path), "config", str(path)))
        else:
            sources.append(_named_source(entry, installed))
    for raw, settings in cli_paths:
        path = Path(raw).expanduser().resolve()
        sources.append(PluginSource(_name_from_path(path), "command line", str(path), dict(settings)))
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            sources.append(PluginSource(ep.name, "entry point", ep.value))
    return _dedupe(sources)


def _named_source(entry: str, installed: Sequence[importlib.metadata.EntryPoint]) -> PluginSource:
    """A ``[plugins] load`` name: an installed entry point's name, else the module one loads, else a module name.

    Entry points are looked up even when the host does not scan them (``entry_points=False``): the name was asked
    for explicitly. Naming the module an entry point loads resolves to that entry point's name, so the same plugin
    is not registered twice (once per name) with every hook running twice.
    """
    by_name = next((ep for ep in installed if ep.name == entry), None)
    if by_name is not None:
        return PluginSource(entry, "config", by_name.value)
    by_module = next((ep for ep in installed if _module_of(ep.value) == entry), None)
    if by_module is not None:
        return PluginSource(by_module.name, "config", by_module.value)
    return PluginSource(entry, "config", entry)


def _module_of(reference: str) -> str:
    return reference.partition(":")[0].strip()


def _dedupe(sources: Iterable[PluginSource]) -> list[PluginSource]:
    """One source per name: the same path named twice collapses; command-line JSON settings merge into it."""
    out: dict[str, PluginSource] = {}
    for source in sources:
        seen = out.get(source.name)
        if seen is None:
            out[source.name] = source
        elif seen.location == source.location or source.origin == "entry point":
            out[source.name] = PluginSource(seen.name, seen.origin, seen.location, {**seen.settings, **source.settings})
        else:
            out[source.name] = source  # a later, explicit source (command line) replaces the earlier one
    return list(out.values())


def load_plugins(
    pm: pluggy.PluginManager, config: Config, sources: Sequence[PluginSource], blocked: Iterable[str] = ()
) -> PluginRegistry:
    """Import, configure and register every source; record each outcome. Raises only for ``required`` plugins."""
    registry = PluginRegistry(config.plugins.hook_timeout)
    blocked = set(blocked) | set(config.plugins.block)
    for source in sources:
        options = config.plugins.for_plugin(source.name)
        record = PluginRecord(
            name=source.name,
            origin=source.origin,
            location=source.location,
            status="loaded",
            required=options.required,
            hook_timeout=options.hook_timeout or config.plugins.hook_timeout,
        )
        registry.add(record)
        if source.name in blocked:
            record.status, record.reason = "blocked", "blocked by --no-plugin or plugins.block"
            pm.set_blocked(source.name)
            continue
        if not options.enabled:
            record.status, record.reason = "disabled", f"plugins.{source.name}.enabled = false"
            continue
        record.settings = {**options.settings, **source.settings}
        try:
            plugin = _instantiate(source, record.settings)
            _register(pm, plugin, source.name)
        except Exception as exc:  # a plugin's own code raised: any exception type is possible
            record.status, record.reason = "failed", _reason(exc)
            if record.required:
                raise PluginLoadError(f"required plugin {source.name!r} failed to load: {record.reason}") from exc
            continue
        record.registered = True
        record.hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
    return registry


def _instantiate(source: PluginSource, settings: Mapping[str, Any]) -> object:
    module = _import(source)
    factory = getattr(module, "kefu_plugin", None)
    if factory is None:
        if settings and source.origin != "builtin":
            raise PluginConfigError(f"has settings {sorted(settings)} but no kefu_plugin(settings) factory to take them")
        return module
    if not callable(factory):
        raise PluginConfigError("kefu_plugin must be a callable taking the plugin's settings")
    plugin = factory(settings)
    if plugin is None:
        raise PluginConfigError("kefu_plugin(settings) returned None")
    return plugin


class PluginConfigError(Exception):
    """The plugin's settings or factory are unusable."""


def _import(source: PluginSource) -> ModuleType:
    if source.origin == "builtin":
        return importlib.import_module(source.location)
    if source.origin == "entry point" or not looks_like_path(source.location):
        return _import_reference(source)
    return _import_path(Path(source.location), source.name)


def _import_reference(source: PluginSource) -> ModuleType:
    """An entry point's value (``module`` or ``module:attr``), also when ``[plugins] load`` named it."""
    module_name, _, attr = source.location.partition(":")
    try:
        module = importlib.import_module(module_name.strip())
    except ModuleNotFoundError as exc:
        if source.origin == "config" and source.location == source.name and exc.name == source.name:
            raise ModuleNotFoundError(
                f"no installed entry point or module named {source.name!r} (group {ENTRY_POINT_GROUP!r})",
                name=exc.name,
            ) from exc
        raise
    if attr:
        target = getattr(module, attr.strip())
        return target if isinstance(target, ModuleType) else _FactoryModule(target)
    return module


class _FactoryModule(ModuleType):
    """An entry point that names a factory (``pkg:make_plugin``) rather than a module."""

    def __init__(self, factory: Any) -> None:
        super().__init__(getattr(factory, "__module__", "plugin"))
        self.kefu_plugin = factory


def _import_path(path: Path, name: str) -> ModuleType:
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    module_name = f"kefu_plugin_{name.replace('-', '_')}"
    if path.is_dir():
        init = path / "__init__.py"
        if not init.is_file():
            raise ImportError(f"{path} is a directory without __init__.py")
        spec = importlib.util.spec_from_file_location(module_name, init, submodule_search_locations=[str(path)])
    elif path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(module_name, path)
    else:
        raise ImportError(f"{path} is neither a package directory nor a .py file")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec, so the package's relative imports resolve
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register and validate: unknown ``kefu_`` hooks, wrappers, and async implementations of sync hooks fail."""
    if pm.get_plugin(name) is not None:
        raise PluginConfigError(f"a plugin named {name!r} is already registered")
    pm.register(plugin, name=name)
    try:
        for caller in pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if not caller.has_spec():
                    raise PluginConfigError(f"unknown hook {caller.name}{_did_you_mean(caller.name)}")
                if impl.wrapper or impl.hookwrapper:
                    raise PluginConfigError(f"{caller.name}: {WRAPPERS_REFUSED}")
                if caller.name in hookspecs.SYNC_HOOKS and inspect.iscoroutinefunction(impl.function):
                    raise PluginConfigError(f"{caller.name} must be a plain function, not async def")
    except Exception:
        pm.unregister(plugin)
        raise


def _did_you_mean(name: str) -> str:
    import difflib

    known = [n for n in dir(hookspecs) if n.startswith("kefu_")]
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _reason(exc: BaseException) -> str:
    """The exception as one line, with the plugin-side location when there is one."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f" ({Path(f.filename).name}:{f.lineno})" for f in reversed(tb) if not _in_host(f.filename)), "")
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({Path(exc.filename).name}:{exc.lineno})"
    return f"{type(exc).__name__}: {exc}{where}"


def _in_host(filename: str) -> bool:
    return filename.startswith(_HOST_DIR) or "importlib" in filename or "pluggy" in filename


_HOST_DIR = str(Path(__file__).parent)


def _name_from_path(path: Path) -> str:
    return path.stem if path.suffix == ".py" else path.name


def _builtin_name(module: str) -> str:
    return "core." + module.rsplit(".", 1)[-1]
