"""The one place the host calls plugin hooks.

pluggy knows nothing of asyncio: an ``async def`` implementation hands back an unawaited coroutine, and one
exception stops the whole call. :class:`Hooks` walks the implementations itself, in pluggy's order (last registered
first, honouring ``tryfirst``/``trylast``), and

* awaits async implementations concurrently, each under its plugin's timeout;
* isolates every implementation: an exception or timeout is logged with the plugin's name and counted in the
  plugin's :class:`~kefu_host.plugins.PluginRecord`; the others still run and the caller still gets their results;
* keeps declarative and ``firstresult`` hooks synchronous (:meth:`Hooks.call_sync`, :meth:`Hooks.call_first`);
* counts and times every implementation of an awaited hook (metrics) and gives each a span under a traced call.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pluggy
import structlog

from kefu_host.hookspecs import SYNC_HOOKS
from kefu_host.metrics import MetricsOff
from kefu_host.plugins import PluginRegistry
from kefu_host.tracing import NO_SPAN, TRACING_OFF, Tracing

log = structlog.get_logger("kefu_host.hooks")


@dataclass(frozen=True, slots=True)
class Contribution:
    """One implementation's non-``None`` answer, with the plugin that gave it."""

    plugin: str
    value: Any


class Hooks:
    """Calls hooks of one plugin manager with awaiting, isolation and timeouts."""

    def __init__(
        self, pm: pluggy.PluginManager, registry: PluginRegistry, *, metrics: MetricsOff | None = None,
        tracing: Tracing = TRACING_OFF,
    ) -> None:
        self.pm = pm
        self.registry = registry
        self.metrics = metrics if metrics is not None else MetricsOff()
        self.tracing = tracing
        # plugins are all registered before the app starts, so each hook's call order is worked out once
        self._order: dict[tuple[str, str | None], list[pluggy.HookImpl]] = {}

    def _impls(self, name: str, only: str | None) -> list[pluggy.HookImpl]:
        impls = self._order.get((name, only))
        if impls is None:
            caller = getattr(self.pm.hook, name)
            impls = [i for i in reversed(caller.get_hookimpls()) if only is None or i.plugin_name == only]
            self._order[(name, only)] = impls
        return impls

    @staticmethod
    def _args(impl: pluggy.HookImpl, kwargs: Mapping[str, Any]) -> list[Any]:
        return [kwargs[arg] for arg in impl.argnames]

    async def call(self, name: str, /, *, only: str | None = None, **kwargs: Any) -> list[Contribution]:
        """Call every implementation of ``name`` (or only plugin ``only``'s); return the non-``None`` answers."""
        if name in SYNC_HOOKS:
            raise TypeError(f"{name} is a synchronous hook; use call_sync or call_first")
        impls = self._impls(name, only)
        if not impls:
            return []
        results: list[Any] = [None] * len(impls)
        pending: dict[int, Any] = {}
        for n, impl in enumerate(impls):
            start = time.perf_counter()
            try:
                value = impl.function(*self._args(impl, kwargs))
            except Exception as exc:
                self.metrics.hook(impl.plugin_name, name, time.perf_counter() - start, "failed")
                self._failed(impl, name, exc)
                continue
            if inspect.isawaitable(value):
                pending[n] = value
            else:
                self.metrics.hook(impl.plugin_name, name, time.perf_counter() - start, "ok")
                results[n] = value
        if len(pending) == 1:  # the common case needs no gather
            ((n, awaitable),) = pending.items()
            results[n] = await self._await(impls[n], name, awaitable)
        elif pending:
            outcomes = await asyncio.gather(*(self._await(impls[n], name, aw) for n, aw in pending.items()))
            for n, outcome in zip(pending, outcomes, strict=True):
                results[n] = outcome
        return [
            Contribution(impl.plugin_name, value)
            for impl, value in zip(impls, results, strict=True)
            if value is not None and value is not _FAILED
        ]

    async def _await(self, impl: pluggy.HookImpl, name: str, awaitable: Any) -> Any:
        timeout = self.registry.hook_timeout(impl.plugin_name)
        start = time.perf_counter()
        outcome = "ok"
        try:
            span = NO_SPAN if self.tracing.tracer is None else self.tracing.child(
                f"hook {name}", {"kefu.plugin": impl.plugin_name, "kefu.hook": name})
            with span:
                async with asyncio.timeout(timeout):
                    return await awaitable
        except TimeoutError:
            outcome = "timeout"
            self.registry.record_timeout(impl.plugin_name, name)
            log.error(
                "hook timed out",
                plugin=impl.plugin_name,
                hook=name,
                timeout_s=timeout,
                elapsed_s=round(time.perf_counter() - start, 3),
            )
        except Exception as exc:
            outcome = "failed"
            self._failed(impl, name, exc)
        finally:
            self.metrics.hook(impl.plugin_name, name, time.perf_counter() - start, outcome)
        return _FAILED

    def call_sync(self, name: str, /, **kwargs: Any) -> list[Contribution]:
        """Call a synchronous hook's implementations; return their non-``None`` answers."""
        out = []
        for impl in self._impls(name, None):
            try:
                value = impl.function(*self._args(impl, kwargs))
            except Exception as exc:
                self._failed(impl, name, exc)
                continue
            if inspect.isawaitable(value):  # registration refuses async impls of sync hooks; this is a backstop
                _close(value)
                self._failed(impl, name, TypeError(f"{name} must not be async"))
            elif value is not None:
                out.append(Contribution(impl.plugin_name, value))
        return out

    def call_first(self, name: str, /, **kwargs: Any) -> Any:
        """Call a ``firstresult`` hook: the first non-``None`` answer wins; a failing implementation is skipped."""
        for impl in self._impls(name, None):
            try:
                value = impl.function(*self._args(impl, kwargs))
            except Exception as exc:
                self._failed(impl, name, exc)
                continue
            if value is not None:
                return value
        return None

    def _failed(self, impl: pluggy.HookImpl, name: str, exc: BaseException) -> None:
        self.registry.record_error(impl.plugin_name, name, exc)
        log.error("hook failed", plugin=impl.plugin_name, hook=name, error=f"{type(exc).__name__}: {exc}", exc_info=exc)


class _Failed:
    __slots__ = ()


_FAILED: Any = _Failed()


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
