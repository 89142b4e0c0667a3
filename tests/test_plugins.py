"""Plugins load from a directory, a .py file and an entry point; a broken one never takes the host down."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kefu_host.config import Config
from kefu_host.plugins import PluginLoadError, discover, load_plugins, new_plugin_manager
from tests.conftest import admin_headers

RECORDER = """
from kefu_host import hookimpl

calls = []

@hookimpl
async def kefu_startup(app):
    calls.append("startup")
"""


def write_plugin(root: Path, name: str, source: str, *, package: bool = False) -> Path:
    if package:
        path = root / name
        path.mkdir(parents=True)
        (path / "__init__.py").write_text(textwrap.dedent(source))
        return path
    path = root / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def load(config: Config, paths: list[tuple[str, dict[str, Any]]], blocked: tuple[str, ...] = ()) -> Any:
    pm = new_plugin_manager()
    registry = load_plugins(pm, config, discover(config, paths, entry_points=False), blocked)
    return pm, registry


def test_a_package_directory_and_a_py_file_load(tmp_path: Path, make_config: Callable[..., Config]) -> None:
    pkg = write_plugin(tmp_path, "tickets", RECORDER, package=True)
    (pkg / "helpers.py").write_text("VALUE = 42\n")
    (pkg / "__init__.py").write_text((pkg / "__init__.py").read_text() + "from .helpers import VALUE\n")
    single = write_plugin(tmp_path, "single", RECORDER)
    pm, registry = load(make_config(), [(str(pkg), {}), (str(single), {})])
    records = {r["name"]: r for r in registry.to_list()}
    assert records["tickets"]["status"] == "loaded"
    assert records["tickets"]["hooks"] == ["kefu_startup"]
    assert records["single"]["status"] == "loaded"
    assert pm.get_plugin("tickets").VALUE == 42


def test_plugins_listed_in_kefu_toml_load_relative_to_it(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_plugin(tmp_path, "fromconfig", RECORDER, package=True)
    path = write_config('[plugins]\nload = ["./fromconfig"]\n')
    from kefu_host.config import load_config

    _, registry = load(load_config(path, environ={}), [])
    assert registry.records["fromconfig"].status == "loaded"
    assert registry.records["fromconfig"].origin == "config"


def test_an_entry_point_plugin_loads(tmp_path: Path, make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site, "kefu_ep_plugin", RECORDER)
    dist = site / "kefu_ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kefu-ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kefu_host]\nep = kefu_ep_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    config = make_config()
    pm = new_plugin_manager()
    registry = load_plugins(pm, config, discover(config, []))
    assert registry.records["ep"].status == "loaded"
    assert registry.records["ep"].origin == "entry point"
    assert registry.records["ep"].hooks == ["kefu_startup"]


def install_entry_point(site: Path, dist_name: str, line: str) -> None:
    """An installed distribution declaring ``line`` in the ``kefu_host`` group: a dist-info directory in ``site``."""
    dist = site / f"{dist_name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[kefu_host]\n{line}\n")


FACTORY = """
from kefu_host import hookimpl

class Plugin:
    def __init__(self, settings):
        self.settings = settings

    @hookimpl
    async def kefu_startup(self, app):
        pass

def make(settings):
    return Plugin(settings)
"""


@pytest.mark.parametrize("entry_points", [True, False])
def test_plugins_load_names_an_entry_point_whose_module_has_another_name(
    tmp_path: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, entry_points: bool
) -> None:
    """``load = ["loyalty"]`` finds the entry point ``loyalty = "kefu_loyalty_impl:make"``, installed or not scanned."""
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site, "kefu_loyalty_impl", FACTORY)
    install_entry_point(site, "kefu_loyalty", "loyalty = kefu_loyalty_impl:make")
    monkeypatch.syspath_prepend(str(site))
    from kefu_host.config import load_config

    config = load_config(
        write_config('[plugins]\nload = ["loyalty"]\n\n[plugins.loyalty]\nrequired = true\ngreeting = "hi"\n'),
        environ={},
    )
    pm = new_plugin_manager()
    registry = load_plugins(pm, config, discover(config, [], entry_points=entry_points))
    assert list(registry.records) == ["loyalty"]  # once, though both [plugins] load and the entry point name it
    record = registry.records["loyalty"]
    assert (record.status, record.origin, record.location) == ("loaded", "config", "kefu_loyalty_impl:make")
    assert record.hooks == ["kefu_startup"]
    assert pm.get_plugin("loyalty").settings == {"greeting": "hi"}


def test_plugins_load_naming_an_entry_points_module_uses_the_entry_point_name(
    tmp_path: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module an entry point loads, given in ``load``, is that one plugin under the entry point's name."""
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site, "kefu_points_impl", FACTORY)
    install_entry_point(site, "kefu_points", "points = kefu_points_impl:make")
    monkeypatch.syspath_prepend(str(site))
    from kefu_host.config import load_config

    config = load_config(write_config('[plugins]\nload = ["kefu_points_impl"]\n'), environ={})
    pm = new_plugin_manager()
    registry = load_plugins(pm, config, discover(config, []))
    assert list(registry.records) == ["points"]  # not also "kefu_points_impl": its hooks would run twice
    assert registry.records["points"].status == "loaded"
    assert registry.records["points"].origin == "config"


def test_plugins_load_naming_nothing_installed_fails_with_the_name(
    write_config: Callable[..., Path]
) -> None:
    from kefu_host.config import load_config

    config = load_config(write_config('[plugins]\nload = ["no_such_plugin_installed"]\n'), environ={})
    _, registry = load(config, [])
    record = registry.records["no_such_plugin_installed"]
    assert record.status == "failed"
    assert "no installed entry point or module named 'no_such_plugin_installed'" in (record.reason or "")


def test_settings_reach_the_plugin_factory(tmp_path: Path, make_config: Callable[..., Config]) -> None:
    path = write_plugin(
        tmp_path,
        "configured",
        """
        class Plugin:
            def __init__(self, settings):
                self.settings = settings

        def kefu_plugin(settings):
            return Plugin(settings)
        """,
    )
    config = make_config('[plugins.configured]\ndsn = "from-file"\nkeep = 1\n')
    pm, _ = load(config, [(str(path), {"dsn": "from-cli", "mysql": {"dsn": "x"}})])
    assert pm.get_plugin("configured").settings == {"dsn": "from-cli", "keep": 1, "mysql": {"dsn": "x"}}


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("import no_such_module_anywhere\n", "ModuleNotFoundError: No module named 'no_such_module_anywhere'"),
        ("def broken(:\n", "SyntaxError"),
        (
            "from kefu_host import hookimpl\n@hookimpl\ndef kefu_startup(app, bogus):\n    pass\n",
            "PluginValidationError",
        ),
        (
            "from kefu_host import hookimpl\n@hookimpl\ndef kefu_startp(app):\n    pass\n",
            "unknown hook kefu_startp (did you mean kefu_startup?)",
        ),
        (
            "from kefu_host import hookimpl\n@hookimpl\nasync def kefu_routes():\n    return []\n",
            "kefu_routes must be a plain function, not async def",
        ),
        ("def kefu_plugin(settings):\n    raise ValueError('dsn is required')\n", "ValueError: dsn is required (bad.py:2)"),
    ],
)
def test_a_broken_plugin_is_reported_not_fatal(
    tmp_path: Path, make_config: Callable[..., Config], source: str, reason: str
) -> None:
    bad = write_plugin(tmp_path, "bad", source)
    good = write_plugin(tmp_path, "good", RECORDER)
    pm, registry = load(make_config(), [(str(bad), {}), (str(good), {})])
    assert registry.records["bad"].status == "failed"
    assert reason in (registry.records["bad"].reason or "")
    assert pm.get_plugin("bad") is None
    assert registry.records["good"].status == "loaded"


def test_a_required_plugin_that_fails_stops_startup(tmp_path: Path, make_config: Callable[..., Config]) -> None:
    bad = write_plugin(tmp_path, "needed", "raise RuntimeError('no database')\n")
    with pytest.raises(PluginLoadError, match="required plugin 'needed' failed to load: RuntimeError: no database"):
        load(make_config("[plugins.needed]\nrequired = true\n"), [(str(bad), {})])


def test_plugins_can_be_blocked_or_disabled(tmp_path: Path, make_config: Callable[..., Config]) -> None:
    a = write_plugin(tmp_path, "alpha", RECORDER)
    b = write_plugin(tmp_path, "beta", RECORDER)
    c = write_plugin(tmp_path, "gamma", RECORDER)
    config = make_config('[plugins]\nblock = ["beta"]\n[plugins.gamma]\nenabled = false\n')
    pm, registry = load(config, [(str(a), {}), (str(b), {}), (str(c), {})], blocked=("alpha",))
    assert [registry.records[n].status for n in ("alpha", "beta", "gamma")] == ["blocked", "blocked", "disabled"]
    assert pm.get_plugins() == set()


FAILING = """
import asyncio
from kefu_host import hookimpl

@hookimpl
async def kefu_startup(app):
    {body}
"""


async def test_a_raising_a_hanging_and_an_unimportable_plugin_leave_the_host_serving(
    tmp_path: Path, start_app: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    raiser = write_plugin(tmp_path, "raiser", FAILING.format(body="raise RuntimeError('boom')"))
    hanger = write_plugin(tmp_path, "hanger", FAILING.format(body="await asyncio.sleep(3600)"))
    broken = write_plugin(tmp_path, "broken", "import not_installed_anywhere\n")
    healthy = write_plugin(tmp_path, "healthy", RECORDER)
    client = await start_app(
        "[plugins.hanger]\nhook_timeout = 0.2\n",
        plugins=[(str(p), {}) for p in (raiser, hanger, broken, healthy)],
    )
    assert sys.modules["kefu_plugin_healthy"].calls == ["startup"]  # ran although its neighbours failed
    assert (await client.get("/readyz")).status == 200

    body = await (await client.get("/api/plugins", headers=admin_headers())).json()
    plugins = {p["name"]: p for p in body["plugins"]}
    assert plugins["raiser"]["errors"] == {"kefu_startup": 1}
    assert plugins["raiser"]["last_error"] == "kefu_startup: RuntimeError: boom"
    assert plugins["hanger"]["timeouts"] == {"kefu_startup": 1}
    assert plugins["broken"]["status"] == "failed"
    assert "not_installed_anywhere" in plugins["broken"]["reason"]
    assert plugins["healthy"]["errors"] == {} and plugins["healthy"]["status"] == "loaded"
    logged = caplog.text
    assert "raiser" in logged and "boom" in logged
    assert "hanger" in logged and "hook timed out" in logged


async def test_the_plugin_list_needs_the_admin_token(start_app: Callable[..., Any]) -> None:
    client = await start_app()
    assert (await client.get("/api/plugins")).status == 401
    assert (await client.get("/api/plugins", headers={"Authorization": "Bearer wrong"})).status == 401


async def test_plugin_routes_are_mounted_under_their_name(tmp_path: Path, start_app: Callable[..., Any]) -> None:
    plugin = write_plugin(
        tmp_path,
        "hello",
        """
        from aiohttp import web
        from kefu_host import hookimpl

        async def hi(request):
            return web.json_response({"hi": request.match_info["who"]})

        @hookimpl
        def kefu_routes():
            return [web.get("/hi/{who}", hi)]
        """,
    )
    client = await start_app(plugins=[(str(plugin), {})])
    response = await client.get("/plugins/hello/hi/there")
    assert response.status == 200
    assert await response.json() == {"hi": "there"}
