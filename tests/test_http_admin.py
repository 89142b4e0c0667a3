"""The admin API takes the admin token, or an admin agent signed in to the console (with CSRF for changes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.chat.conftest import Host
from tests.chat.test_login_api import sign_in
from tests.conftest import admin_headers

PASSWORD = "a long admin password"


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    async def start(extra: str = "", **kwargs: Any) -> Host:
        return Host(await start_app(extra, **kwargs))

    return start


async def test_an_admin_agents_session_may_use_the_admin_api(start_host: Callable[..., Any]) -> None:
    host: Host = await start_host()
    await host.add_agent("root", admin=True, password=PASSWORD)
    csrf = (await sign_in(host, "root", PASSWORD))["csrf_token"]
    for path in ("/api/rules", "/api/plugins"):
        assert (await host.client.get(path)).status == 200, path
    refused = await host.client.post("/api/rules/reload", json={})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    reload = await host.client.post("/api/rules/reload", json={}, headers={"X-CSRF-Token": csrf})
    assert reload.status == 200 and (await reload.json())["status"] in ("loaded", "unchanged")


async def test_an_agent_that_is_not_an_admin_is_refused_with_a_403_that_says_how(
    start_host: Callable[..., Any],
) -> None:
    host: Host = await start_host()
    token = await host.add_agent("alice", password=PASSWORD)
    await sign_in(host, "alice", PASSWORD)
    response = await host.client.get("/api/rules")
    body = await response.json()
    assert response.status == 403 and body["error"]["code"] == "not_admin"
    assert "kefu-host agents set alice --admin" in body["error"]["message"]
    host.client.session.cookie_jar.clear()
    by_token = await host.client.get("/api/plugins", headers={"Authorization": f"Bearer {token}"})
    assert by_token.status == 403
    assert (await host.client.get("/api/plugins")).status == 401
    assert (await host.client.get("/api/plugins", headers=admin_headers())).status == 200


async def test_with_the_admin_api_off_an_admin_agent_is_refused_too(start_host: Callable[..., Any]) -> None:
    host: Host = await start_host("[auth]\nadmin_api = false\n")
    await host.add_agent("root", admin=True, password=PASSWORD)
    await sign_in(host, "root", PASSWORD)
    response = await host.client.get("/api/rules")
    assert response.status == 403 and (await response.json())["error"]["code"] == "admin_disabled"


async def test_check_admin_stays_the_admin_token_only_and_admin_denied_takes_admin_agents(
    start_host: Callable[..., Any],
) -> None:
    from aiohttp.test_utils import make_mocked_request

    from kefu_host.sdk import admin_denied, check_admin

    host: Host = await start_host()
    token = await host.add_agent("root", admin=True)

    def request(headers: dict[str, str]) -> Any:
        return make_mocked_request("GET", "/plugins/x/admin", headers=headers, app=host.app)

    assert check_admin(request(admin_headers())) is None
    assert await admin_denied(request(admin_headers())) is None
    refused = check_admin(request({"Authorization": f"Bearer {token}"}))
    assert refused is not None and refused.status == 401
    assert await admin_denied(request({"Authorization": f"Bearer {token}"})) is None
