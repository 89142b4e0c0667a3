"""The facade's root: :class:`Host` (one per app) and :class:`PluginHost` (what one plugin's hooks get as ``host``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import orjson
import structlog
from aiohttp import web

from kefu_host.chat.broker import agent_topic, customer_topic
from kefu_host.chat.protocol import frame
from kefu_host.keys import CHAT, CONFIG, STORE, TRACING
from kefu_host.plugin_db import PluginStore, open_store, resolve_url
from kefu_host.plugin_host.chat import Agents, Conversations
from kefu_host.plugin_host.customers import Customers
from kefu_host.plugin_registry import PluginRegistry
from kefu_host.tracing.http import client_trace_configs

if TYPE_CHECKING:
    from kefu_host.chat.runtime import ChatRuntime
    from kefu_host.config import Config
    from kefu_host.store import Store

S = TypeVar("S", bound=PluginStore)
#: The most bytes a plugin's frame may take on the wire.
MAX_FRAME_BYTES = 64 * 1024
_VERB = re.compile(r"^[a-z][a-z0-9_]*$")


class HostNotReady(RuntimeError):
    """The part of the host asked for is not open: before ``kefu_startup`` or after ``kefu_shutdown``."""


class Host:
    """The app's side of the facade: it opens what plugins share and hands each plugin its :class:`PluginHost`."""

    def __init__(self, app: web.Application, registry: PluginRegistry) -> None:
        self._app = app
        self.registry = registry
        self._plugins: dict[str, PluginHost] = {}

    def for_plugin(self, name: str) -> PluginHost:
        found = self._plugins.get(name)
        if found is None:
            found = self._plugins[name] = PluginHost(self, name)
        return found

    async def close(self) -> None:
        """After every ``kefu_shutdown``: close the HTTP sessions and stores plugins left open."""
        for plugin in self._plugins.values():
            await plugin._close()

    # what the facade's parts read; each raises HostNotReady until the part is open
    def config(self) -> Config:
        return self._app[CONFIG]

    def trace_configs(self) -> list[aiohttp.TraceConfig]:
        return client_trace_configs(self._app[TRACING])

    def chat(self) -> ChatRuntime:
        chat = self._app.get(CHAT)
        if chat is None:
            raise HostNotReady("the chat service is not running (called before kefu_startup?)")
        return chat

    def store(self) -> Store:
        store = self._app.get(STORE)
        if store is None:
            raise HostNotReady("the store is not open (called before kefu_startup?)")
        return store


class PluginHost:
    """What a plugin may use of the host. Each plugin gets its own; hooks receive it as ``host``.

    ``customers``, ``conversations`` and ``agents`` read and change chat state; :meth:`send_to_agent` and
    :meth:`send_to_visitor` push a frame of the plugin's own; ``settings``, ``base_dir``, ``log``, ``http`` and
    :meth:`open_store` are the plugin's configuration, logger, HTTP client and database.
    """

    def __init__(self, host: Host, name: str) -> None:
        self._host = host
        self.name = name
        self.customers = Customers(host, name)
        self.conversations = Conversations(host, name)
        self.agents = Agents(host)
        #: A structlog logger named ``kefu_plugin.<name>``, every line carrying ``plugin=<name>``.
        self.log = structlog.get_logger(f"kefu_plugin.{name}").bind(plugin=name)
        self._http: aiohttp.ClientSession | None = None
        self._stores: list[PluginStore] = []
        self._closed = False

    @property
    def settings(self) -> Mapping[str, Any]:
        """The plugin's settings (``[plugins.NAME]`` without the host's keys, with command-line JSON), read-only."""
        record = self._host.registry.records.get(self.name)
        return MappingProxyType(dict(record.settings) if record else {})

    @property
    def base_dir(self) -> Path:
        """The directory of kefu.toml: relative paths in settings are relative to it."""
        return self._host.config().base_dir

    @property
    def http(self) -> aiohttp.ClientSession:
        """An HTTP client session of the plugin's own, opened on first use and closed after ``kefu_shutdown``.

        Give each request its ``headers`` and ``timeout``; the session sets only a ``User-Agent``.
        """
        if self._closed:
            raise HostNotReady("the host has shut down")
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers={"User-Agent": f"kefu-host-plugin/{self.name}"},
                timeout=aiohttp.ClientTimeout(total=30),
                raise_for_status=False,
                # with [tracing] on, each request is a client span under the hook or action that made it
                trace_configs=self._host.trace_configs(),
            )
        return self._http

    async def open_store(self, store_class: type[S], dsn: str) -> S:
        """Open the plugin's own database at ``dsn`` (relative SQLite paths next to kefu.toml) with its tables
        created; the host closes it after ``kefu_shutdown`` if the plugin has not."""
        store = await open_store(store_class, resolve_url(dsn, self.base_dir))
        self._stores.append(store)
        return store

    async def send_to_agent(self, conversation_id: int, type: str, data: Mapping[str, Any]) -> bool:
        """Push ``{"type", "plugin", "conversation_id", "data"}`` to the agent holding the conversation.

        ``type`` is ``<plugin name>.<verb>``. Not stored: an agent not connected never gets it. False when no agent
        holds the conversation.
        """
        text = self._frame(conversation_id, type, data)
        agent_id = await self._host.chat().service.seats.agent_of(conversation_id)  # on whichever node
        if agent_id is None:
            return False
        self._host.chat().hub.publish(agent_topic(agent_id), text)
        return True

    async def send_to_visitor(self, conversation_id: int, type: str, data: Mapping[str, Any]) -> bool:
        """Push the same frame to every tab of the conversation's visitor; False for an unknown conversation."""
        text = self._frame(conversation_id, type, data)
        conversation = await self.conversations.get(conversation_id)
        if conversation is None:
            return False
        self._host.chat().hub.publish(customer_topic(conversation.customer_id), text)
        return True

    def _frame(self, conversation_id: int, type: str, data: Mapping[str, Any]) -> Any:
        plugin, dot, verb = type.partition(".")
        if plugin != self.name or not dot or not _VERB.match(verb):
            raise ValueError(f"frame type {type!r} must be '{self.name}.<verb>' (lowercase letters, digits, _)")
        if not isinstance(data, Mapping):
            raise TypeError(f"frame data must be a mapping, got {data.__class__.__name__}")
        body = {"type": type, "plugin": self.name, "conversation_id": conversation_id, "data": dict(data)}
        try:
            size = len(orjson.dumps(body))
        except TypeError as exc:
            raise TypeError(f"frame data is not JSON: {exc}") from None
        if size > MAX_FRAME_BYTES:
            raise ValueError(f"frame is {size} bytes, over {MAX_FRAME_BYTES}")
        return frame(body)

    async def _close(self) -> None:
        self._closed = True
        if self._http is not None:
            session, self._http = self._http, None
            await session.close()
        stores, self._stores = self._stores, []
        for store in stores:
            await store.close()  # disposing an engine the plugin closed already does nothing
