"""A plugin's own database engine keeps parameters out of error texts, as the host's does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kefu_host.plugin_db import open_engine, resolve_url
from tests.conftest import IN_CI

MARIADB_URL = os.environ.get("KEFU_TEST_MARIADB_URL")


@pytest.fixture(params=["sqlite", "mariadb"])
def plugin_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return "sqlite+aiosqlite:///plugin.db"
    if not MARIADB_URL:
        if IN_CI:
            pytest.fail("KEFU_TEST_MARIADB_URL must be set in CI")
        pytest.skip("KEFU_TEST_MARIADB_URL not set")
    return MARIADB_URL


async def test_a_failing_statement_error_names_no_parameter_values(plugin_dsn: str, tmp_path: Path) -> None:
    engine = open_engine(resolve_url(plugin_dsn, tmp_path))
    try:
        with pytest.raises(DBAPIError) as info:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO no_such_table (note) VALUES (:note)"),
                                   {"note": "refund to IBAN DE89 3704 0044"})
    finally:
        await engine.dispose()
    assert "DE89" not in str(info.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(info.value)
