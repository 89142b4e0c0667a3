"""Agent actions: what an agent calls from the console like a local method (``erp.inventory(sku="A1")``).

Plugins declare them with the ``kefu_agent_actions`` hook. An agent calls one with an ``action`` frame on its socket;
the host checks the arguments against the action's JSON Schema, runs it under the plugin's hook timeout, isolated
like a hook, and answers with an ``action_result`` frame. See docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from jsonschema import Draft202012Validator

from kefu_host.chat.values import AgentView, ConversationView
from kefu_host.hookcall import Hooks
from kefu_host.plugins import PluginRegistry

log = structlog.get_logger("kefu_host.actions")
_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Who called the action, and in which conversation (None when called outside one)."""

    agent: AgentView
    conversation: ConversationView | None


#: ``async def handler(ctx, **args) -> JSON-serialisable result``
Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class AgentAction:
    """``name`` is ``plugin_area.verb`` (``erp.inventory``); ``params`` a JSON Schema for the arguments object."""

    name: str
    handler: Handler = field(compare=False)
    params: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    description: str = ""


class ActionError(Exception):
    """The action cannot run or failed; ``code`` goes into the ``action_result`` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Registered:
    action: AgentAction
    plugin: str
    validator: Draft202012Validator


class ActionRegistry:
    """Every plugin's actions by name; those of a plugin disabled at run time are hidden and refused."""

    def __init__(self, hooks: Hooks) -> None:
        self.registry: PluginRegistry = hooks.registry
        self.actions: dict[str, _Registered] = {}
        hooks.collect("kefu_agent_actions", AgentAction, self._add)

    def _add(self, action: AgentAction, plugin: str) -> None:
        if not _NAME.match(action.name):
            raise ValueError(f"action name {action.name!r} must look like area.verb (lowercase)")
        if action.name in self.actions:
            raise ValueError(f"agent action {action.name} is already defined")
        Draft202012Validator.check_schema(action.params)
        self.actions[action.name] = _Registered(action, plugin, Draft202012Validator(action.params))

    def _enabled(self) -> dict[str, _Registered]:
        return {name: r for name, r in self.actions.items() if self.registry.enabled(r.plugin)}

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": r.action.name, "description": r.action.description, "params": r.action.params,
             "plugin": r.plugin}
            for r in self._enabled().values()
        ]

    async def call(self, name: str, args: Any, ctx: ActionContext) -> Any:
        enabled = self._enabled()
        registered = enabled.get(name)
        if registered is None:
            raise ActionError("unknown_action", f"no action {name!r}; known: {', '.join(sorted(enabled))}")
        if not isinstance(args, dict):
            raise ActionError("bad_args", "args must be an object")
        error = next(iter(sorted(registered.validator.iter_errors(args), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "args"
            raise ActionError("bad_args", f"{where}: {error.message}")
        timeout = self.registry.hook_timeout(registered.plugin)
        plugin, stat = registered.plugin, f"action:{name}"
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                result = await registered.action.handler(ctx, **args)
        except TimeoutError:
            self.registry.record_timeout(plugin, stat, time.perf_counter() - start)
            raise ActionError("timeout", f"{name} did not answer within {timeout:g}s") from None
        except ActionError:
            self.registry.record_call(plugin, stat, time.perf_counter() - start)  # a clean answer, not a failure
            raise
        except Exception as exc:  # the plugin's failure: isolated, counted, reported to the agent
            self.registry.record_error(plugin, stat, exc, time.perf_counter() - start)
            log.error("agent action failed", action=name, plugin=plugin, error=repr(exc), exc_info=exc)
            raise ActionError("action_failed", f"{type(exc).__name__}: {exc}") from None
        self.registry.record_call(plugin, stat, time.perf_counter() - start)
        return result
