"""Fixtures for the bundled plugins' tests, over the host's pytest fixtures (kefu_host.testing.pytest_plugin):
the plugins' paths, MariaDB, a port nobody serves."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from types import ModuleType

import pytest

from kefu_host.testing.host import TEAMS as BASE_TEAMS
from kefu_host.testing.host import TestHost
from tests.conftest import ADMIN_TOKEN, IN_CI

ROOT = Path(__file__).resolve().parents[2]
MARIADB_URL = os.environ.get("KEFU_TEST_MARIADB_URL")
#: Teams of a host whose rules send payment trouble to a billing desk.
TEAMS = (*BASE_TEAMS, "billing")
#: A host of these tests: agents, visitors, signed events (source ``shop``) and actions.
PluginHost = TestHost
call = TestHost.call


def plugin_path(name: str) -> str:
    return str(ROOT / "plugins" / name)


def load_plugin_package(name: str) -> ModuleType:
    """A bundled plugin imported as a package, as the host imports a plugin directory."""
    module_name = f"kefu_test_plugin_{name}"
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "plugins" / name / "__init__.py", submodule_search_locations=[plugin_path(name)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mariadb_url() -> str:
    """A MariaDB/MySQL database without the ticket plugin's tables (they are dropped first)."""
    if not MARIADB_URL:
        if IN_CI:
            pytest.fail("KEFU_TEST_MARIADB_URL must be set in CI")
        pytest.skip("KEFU_TEST_MARIADB_URL not set")
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(MARIADB_URL)
    conn = pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=url.database,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS kefu_ticket_changes")
            cursor.execute("DROP TABLE IF EXISTS kefu_ticket_transcripts")
            cursor.execute("DROP TABLE IF EXISTS kefu_tickets")
        conn.commit()
    finally:
        conn.close()
    return MARIADB_URL
