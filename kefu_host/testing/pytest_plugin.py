"""pytest fixtures for plugin authors (and the host's own tests), loaded by pytest through the ``pytest11`` entry point.

``kefu_app``       start the real app with given plugins, rules and config: ``host = await kefu_app(...)``
``kefu_visitor``   a visitor's socket on a host: ``visitor = await kefu_visitor(host, uid="u-1")``
``kefu_agent``     an agent's socket on a host: ``agent = await kefu_agent(host, "alice", teams=("support",))``
``kefu_events``    signed business events: ``await kefu_events.send(host, "ticket.changed", {...})``
``kefu_clock``     the clock the routing rules read: ``kefu_clock.set("2026-11-29T03:00+08:00")``

Everything runs for real: a SQLite file in the test's ``tmp_path``, the app on a loopback port, WebSockets.
The async fixtures need pytest-asyncio (``pip install 'kefu-host[testing]'``); docs/plugins.md has an example.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from kefu_host.config import Config, load_config
from kefu_host.testing.clients import AgentClient, VisitorClient
from kefu_host.testing.clock import FakeClock
from kefu_host.testing.events import envelope
from kefu_host.testing.host import TEAMS, TestHost, events_toml, start_server, write_config

try:
    import pytest_asyncio
except ImportError:  # kefu-host is installed without its testing extra: offer no async fixtures
    pytest_asyncio = None

#: A plugin for ``kefu_app``: a module name (as in ``[plugins] load``) or a path, with or without settings.
PluginSpec = str | Path | tuple[str | Path, Mapping[str, Any]]


def _split(plugins: Sequence[PluginSpec]) -> tuple[list[str], dict[str, Mapping[str, Any]], list[tuple[str, Any]]]:
    """Module names (for ``[plugins] load``) with their settings, and paths (given like ``--plugin PATH``)."""
    modules: list[str] = []
    settings: dict[str, Mapping[str, Any]] = {}
    paths: list[tuple[str, Mapping[str, Any]]] = []
    for spec in plugins:
        target, options = spec if isinstance(spec, tuple) else (spec, {})
        text = str(target)
        if isinstance(target, Path) or "/" in text or text.endswith(".py"):
            paths.append((text, dict(options)))
        else:
            modules.append(text)
            settings[text] = dict(options)
    return modules, settings, paths


class KefuApp:
    """The ``kefu_app`` fixture: starts hosts in the test's directory and stops them after the test."""

    def __init__(self, directory: Path, clock: FakeClock) -> None:
        self.directory = directory
        self.clock = clock
        self._clients: list[Any] = []
        self._count = 0

    async def __call__(
        self,
        plugins: Sequence[PluginSpec] = (),
        *,
        rules: str | None = None,
        config: str = "",
        teams: Sequence[str] = TEAMS,
        environ: Mapping[str, str] | None = None,
        directory: Path | None = None,
    ) -> TestHost:
        """A running host with ``plugins`` (module names or paths, each optionally ``(plugin, settings)``),
        ``rules`` (the text of one .rule file; None: no rules, every chat to ``support``) and ``config`` (more
        kefu.toml). Its event source ``shop`` signs with :data:`kefu_host.testing.host.EVENT_SECRET`. Each host
        gets a directory of its own; give the same ``directory`` twice to restart a host on the same files."""
        self._count += 1
        directory = directory or self.directory / f"host{self._count}"
        directory.mkdir(parents=True, exist_ok=True)
        modules, settings, paths = _split(plugins)
        load = "\n[plugins]\nload = [" + ", ".join(f'"{m}"' for m in modules) + "]\n" if modules else ""
        path = write_config(directory, events_toml() + load + config, rules=rules, teams=teams)
        overrides = {f"plugins.{name}.{key}": value for name, table in settings.items() for key, value in table.items()}
        return await self.start(load_config(path, environ=dict(environ or {}), overrides=overrides), plugins=paths)

    async def start(self, config: Config, *, plugins: Sequence[tuple[str, Mapping[str, Any]]] = (),
                    blocked: Sequence[str] = ()) -> TestHost:
        """A running host for a config of your own (a copy of your kefu.toml, say); ``blocked`` as --no-plugin."""
        from aiohttp.test_utils import TestClient

        server = await start_server(config, plugins=plugins, blocked=blocked, clock=self.clock)
        client: TestClient[Any, Any] = TestClient(server)
        await client.start_server()
        self._clients.append(client)
        return TestHost(client)

    async def close(self) -> None:
        while self._clients:
            await self._clients.pop().close()


class Events:
    """The ``kefu_events`` fixture: signed business events to a host."""

    @staticmethod
    def envelope(event_type: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return envelope(event_type, data, **kw)

    @staticmethod
    async def send(host: TestHost, event_type: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """Sign and POST one event (``event_id=``, ``occurred_at=`` optional); asserts a 200, returns the answer."""
        return await host.send(event_type, data, **kw)

    @staticmethod
    async def post(host: TestHost, payload: Any, secret: str | None = None) -> Any:
        """POST any signed payload (a bad one too) and return the response, to test refusals."""
        return await (host.post(payload) if secret is None else host.post(payload, secret))


@pytest.fixture
def kefu_clock() -> FakeClock:
    """The clock the routing rules of every ``kefu_app`` host in this test read."""
    return FakeClock()


@pytest.fixture
def kefu_events() -> Events:
    return Events()


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def kefu_app(tmp_path: Path, kefu_clock: FakeClock) -> AsyncIterator[KefuApp]:
        """``host = await kefu_app(["my_plugin"], rules=RULES)``: the real app, stopped after the test."""
        starter = KefuApp(tmp_path, kefu_clock)
        yield starter
        await starter.close()

    @pytest_asyncio.fixture
    async def kefu_visitor() -> AsyncIterator[Any]:
        """``visitor = await kefu_visitor(host, uid=None)``: a visitor socket (identified when ``uid`` is given)."""
        opened: list[VisitorClient] = []

        async def connect(host: TestHost, uid: str | None = None, **session: Any) -> VisitorClient:
            visitor = await (host.identified_visitor(uid) if uid is not None else host.visitor(**session))
            opened.append(visitor)
            return visitor

        yield connect
        for visitor in opened:
            await visitor.close()

    @pytest_asyncio.fixture
    async def kefu_agent() -> AsyncIterator[Any]:
        """``agent = await kefu_agent(host, "alice", teams=("support",))``: a new agent's socket, online."""
        opened: list[AgentClient] = []

        async def connect(host: TestHost, name: str = "alice", teams: tuple[str, ...] = ("support",),
                          **options: Any) -> AgentClient:
            agent = await host.agent(await host.add_agent(name, teams=teams, **options))
            opened.append(agent)
            return agent

        yield connect
        for agent in opened:
            await agent.close()
