"""The one place the host calls plugin hooks, through pluggy's own hook calling.

Every call goes through ``pm.hook.<name>`` (or ``pm.subset_hook_caller`` when some plugins are disabled, or only one
plugin is asked), so pluggy's tracing and ``pm.add_hookcall_monitoring`` see each one. pluggy knows nothing of
asyncio and stops a call at the first exception, so :class:`Hooks` guards every implementation once, on its first
call: the guard

* isolates it: an exception is logged with the plugin's name and counted, and pluggy goes on to the next plugin;
* hands it the plugin's own facade as ``host`` (the caller passes one :class:`HostProvider`, each plugin gets its
  :class:`~kefu_host.plugin_host.PluginHost`);
* tags what it answers with the plugin's name (:class:`Contribution`), or, when it answers an awaitable, returns it
  unawaited as :class:`Pending`.

:meth:`Hooks.call` then awaits the pending answers concurrently, each under its plugin's timeout and isolated the
same way. Declarative and ``firstresult`` hooks stay synchronous (:meth:`Hooks.call_sync`, :meth:`Hooks.call_first`);
:meth:`Hooks.collect` gathers and validates what declarative hooks contribute. Every call, failure and timeout is
counted per plugin and hook in the :class:`~kefu_host.plugin_registry.PluginRegistry`.

Awaited hooks are also counted and timed in the app's metrics, and each implementation gets a span under a
traced call.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pluggy
import structlog

from kefu_host.hookspecs import SYNC_HOOKS
from kefu_host.plugin_registry import HookStats, PluginRegistry
from kefu_host.plugins import WRAPPERS_REFUSED
from kefu_host.metrics import MetricsOff
from kefu_host.tracing import NO_SPAN, TRACING_OFF, Tracing

log = structlog.get_logger("kefu_host.hooks")
T = TypeVar("T")


class HostProvider(Protocol):
    def for_plugin(self, name: str) -> object:
        """The ``host`` argument that plugin ``name``'s implementations receive."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """One implementation's non-``None`` answer, with the plugin that gave it."""

    plugin: str
    value: Any


@dataclass(frozen=True, slots=True)
class Pending:
    """An implementation's awaitable answer, not yet awaited (what pluggy's own result list holds for it)."""

    plugin: str
    hook: str
    awaitable: Awaitable[Any]
    started: float
    stat: HookStats | None = None


class Hooks:
    """Calls hooks of one plugin manager with awaiting, isolation, timeouts and per-plugin counts."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        registry: PluginRegistry,
        host: HostProvider | None = None,
        *,
        metrics: MetricsOff | None = None,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self.pm = pm
        self.registry = registry
        self.host = host
        self.metrics = metrics if metrics is not None else MetricsOff()
        self.tracing = tracing
        self._callers: dict[tuple[str, str | None, bool], Any] = {}

    def refresh(self) -> None:
        """Forget the cached callers: a plugin was enabled or disabled."""
        self._callers.clear()

    # --- the callers ----------------------------------------------------------------------------------------

    def _caller(self, name: str, only: str | None = None, everyone: bool = False) -> Any:
        """pluggy's caller for ``name``: every enabled plugin's implementation, or ``only`` that plugin's.

        ``everyone`` includes plugins disabled at run time (their ``kefu_shutdown`` still closes what they opened).
        """
        key = (name, only, everyone)
        caller = self._callers.get(key)
        if caller is None:
            full = getattr(self.pm.hook, name)
            for impl in full.get_hookimpls():
                self._guard(impl, name)
            leave_out = [
                impl.plugin
                for impl in full.get_hookimpls()
                if (only is not None and impl.plugin_name != only)
                or (not everyone and not self.registry.enabled(impl.plugin_name))
            ]
            caller = self.pm.subset_hook_caller(name, leave_out) if leave_out else full
            self._callers[key] = caller
        return caller

    def _kwargs(self, caller: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if caller.spec is not None and "host" in caller.spec.argnames:
            kwargs["host"] = self.host
        return kwargs

    def _guard(self, impl: pluggy.HookImpl, hook: str) -> None:
        """Wrap ``impl.function`` once (pluggy calls it with the spec's arguments in ``impl.argnames`` order)."""
        if getattr(impl.function, "__kefu_hooks__", None) is self:
            return
        if impl.wrapper or impl.hookwrapper:
            raise TypeError(f"{impl.plugin_name}: {hook}: {WRAPPERS_REFUSED}")
        function = getattr(impl.function, "__kefu_original__", impl.function)
        plugin = impl.plugin_name
        host_at = impl.argnames.index("host") if "host" in impl.argnames else None
        stat = self.registry.stats_for(plugin, hook)  # looked up once: this runs for every message
        clock = time.perf_counter

        def guarded(*args: Any) -> Any:
            if host_at is not None and self.host is not None:
                args = (*args[:host_at], self.host.for_plugin(plugin), *args[host_at + 1 :])
            start = clock()
            try:
                value = function(*args)
            except Exception as exc:
                self.metrics.hook(plugin, hook, clock() - start, "failed")
                self._failed(plugin, hook, exc, start)
                return None
            if value is not None and inspect.isawaitable(value):
                return Pending(plugin, hook, value, start, stat)
            elapsed = clock() - start
            self.metrics.hook(plugin, hook, elapsed, "ok")
            if stat is not None:
                stat.add(elapsed)
            return None if value is None else Contribution(plugin, value)

        guarded.__kefu_hooks__ = self  # type: ignore[attr-defined]
        guarded.__kefu_original__ = function  # type: ignore[attr-defined]
        guarded.__name__ = getattr(function, "__name__", hook)
        guarded.__qualname__ = getattr(function, "__qualname__", hook)
        impl.function = guarded

    # --- calling --------------------------------------------------------------------------------------------

    async def call(
        self, name: str, /, *, only: str | None = None, everyone: bool = False, **kwargs: Any
    ) -> list[Contribution]:
        """Call every enabled implementation of ``name`` (or only plugin ``only``'s); return the non-``None``
        answers, awaited, in pluggy's order (last registered first, ``tryfirst``/``trylast`` honoured)."""
        if name in SYNC_HOOKS:
            raise TypeError(f"{name} is a synchronous hook; use call_sync or call_first")
        caller = self._caller(name, only, everyone)
        answers: list[Any] = caller(**self._kwargs(caller, kwargs))
        if not answers:
            return answers
        answers = list(answers)  # a copy: pluggy's own list stays as monitors saw it
        pending = [n for n, answer in enumerate(answers) if type(answer) is Pending]
        if not pending:
            return answers
        if len(pending) == 1:  # the common case needs no gather
            answers[pending[0]] = await self._await(answers[pending[0]])
        elif pending:
            outcomes = await asyncio.gather(*(self._await(answers[n]) for n in pending))
            for n, outcome in zip(pending, outcomes, strict=True):
                answers[n] = outcome
        return [a for a in answers if a is not None]

    async def _await(self, pending: Pending) -> Contribution | None:
        timeout = self.registry.hook_timeout(pending.plugin)
        outcome = "ok"
        try:
            span = NO_SPAN if self.tracing.tracer is None else self.tracing.child(
                f"hook {pending.hook}", {"kefu.plugin": pending.plugin, "kefu.hook": pending.hook})
            with span:
                async with asyncio.timeout(timeout):
                    value = await pending.awaitable
        except TimeoutError:
            outcome = "timeout"
            elapsed = time.perf_counter() - pending.started
            self.registry.record_timeout(pending.plugin, pending.hook, elapsed)
            log.error("hook timed out", plugin=pending.plugin, hook=pending.hook, timeout_s=timeout,
                      elapsed_s=round(elapsed, 3))
            return None
        except Exception as exc:
            outcome = "failed"
            self._failed(pending.plugin, pending.hook, exc, pending.started)
            return None
        finally:
            self.metrics.hook(pending.plugin, pending.hook, time.perf_counter() - pending.started, outcome)
        if pending.stat is not None:
            pending.stat.add(time.perf_counter() - pending.started)
        return None if value is None else Contribution(pending.plugin, value)

    def call_sync(self, name: str, /, **kwargs: Any) -> list[Contribution]:
        """Call a synchronous hook's enabled implementations; return their non-``None`` answers."""
        caller = self._caller(name)
        out = []
        for answer in caller(**self._kwargs(caller, kwargs)):
            if isinstance(answer, Pending):  # registration refuses async impls of sync hooks; this is a backstop
                self._refuse_async(answer)
            else:
                out.append(answer)
        return out

    def call_first(self, name: str, /, **kwargs: Any) -> Any:
        """Call a ``firstresult`` hook: the first non-``None`` answer wins; a failing implementation is skipped."""
        caller = self._caller(name)
        answer = caller(**self._kwargs(caller, kwargs))
        if isinstance(answer, Pending):
            self._refuse_async(answer)
            return None
        return answer.value if isinstance(answer, Contribution) else None

    def collect(
        self, hook: str, kind: type[T], validate: Callable[[T, str], object] | None = None, **kwargs: Any
    ) -> list[tuple[str, T]]:
        """What a declarative hook's implementations contribute, as ``(plugin, item)`` pairs in call order.

        Each implementation answers a sequence of ``kind``; every item is checked to be one and passed to
        ``validate(item, plugin)``, which raises to refuse it. A refused item (or an answer that is not a sequence)
        is that plugin's failure, logged and counted under ``hook``; the plugin's other items and the other plugins
        still count.
        """
        out: list[tuple[str, T]] = []
        for contribution in self.call_sync(hook, **kwargs):
            items = contribution.value
            if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
                self._rejected(contribution.plugin, hook,
                               TypeError(f"expected a sequence of {kind.__name__}, got {type(items).__name__}"))
                continue
            for item in items:
                try:
                    if not isinstance(item, kind):
                        raise TypeError(f"expected {kind.__name__} objects, got {type(item).__name__}")
                    if validate is not None:
                        validate(item, contribution.plugin)
                except Exception as exc:  # the validator's verdict on the plugin's item: any exception refuses it
                    self._rejected(contribution.plugin, hook, exc)
                    continue
                out.append((contribution.plugin, item))
        return out

    # --- failures -------------------------------------------------------------------------------------------

    def _failed(self, plugin: str, hook: str, exc: BaseException, started: float) -> None:
        self.registry.record_error(plugin, hook, exc, time.perf_counter() - started)
        log.error("hook failed", plugin=plugin, hook=hook, error=f"{type(exc).__name__}: {exc}", exc_info=exc)

    def _rejected(self, plugin: str, hook: str, exc: BaseException) -> None:
        self.registry.record_error(plugin, hook, exc)
        log.error("plugin contribution rejected", plugin=plugin, hook=hook, error=f"{type(exc).__name__}: {exc}")

    def _refuse_async(self, pending: Pending) -> None:
        close = getattr(pending.awaitable, "close", None)
        if close is not None:
            close()
        self._failed(pending.plugin, pending.hook, TypeError(f"{pending.hook} must not be async"), pending.started)
