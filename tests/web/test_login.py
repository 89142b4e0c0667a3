"""The first five minutes and every day after: the setup page from the URL in the host's log, signing in with a
name and password, signing out, a wrong password, a session that runs out, and pages of other origins that try
the agent's cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import expect
from sqlalchemy import update

from kefu_host.chat.accounts import set_agent
from kefu_host.chat.passwords import hash_password
from kefu_host.keys import STORE
from kefu_host.store.models import LoginSession, utcnow
from kefu_host.testing.process import HostProcess
from tests.web.conftest import Watch, WebHost, screenshot_path
from tests.web.pages import Console

PASSWORD = "Li Lei's long password"


@pytest.fixture
def kefu_host_process(write_config: Callable[..., Path]) -> Iterator[Callable[[], tuple[int, str]]]:
    """``kefu-host`` as an operator starts it, on a fresh database: its port and the setup URL from its log (read
    on to the end by a thread: a log nobody reads fills its pipe, and the host then blocks in its next write)."""
    hosts: list[HostProcess] = []

    def start() -> tuple[int, str]:
        port = unused_port()
        host = HostProcess(write_config("\n[web]\ndemo = true\n"), ["--port", str(port)],
                           env={"KEFU_SERVER__ALLOWED_ORIGINS": f"http://127.0.0.1:{port}"})
        hosts.append(host)
        record = host.log.wait("no agents yet: open this URL to create the first admin agent", 60)
        return port, str(record["url"])

    yield start
    for host in hosts:
        host.kill()


async def test_from_the_logged_setup_url_to_the_console_then_out_and_in_again_with_the_password(
    kefu_host_process: Callable[[], tuple[int, str]], page: Any, context: Any, watch: Watch
) -> None:
    port, url = kefu_host_process()
    assert url.startswith(f"http://127.0.0.1:{port}/setup#token=")
    await page.goto(url)
    await expect(page.get_by_label("Setup token")).to_have_value(url.split("#token=", 1)[1])  # prefilled
    assert page.url == f"http://127.0.0.1:{port}/"  # the token left the address bar and the history
    await expect(page.get_by_text("joins every team (support, vip, risk-control, backup, en-desk)")).to_be_visible()
    await page.get_by_label("Name").fill("li.lei")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD + "!")
    if path := screenshot_path("setup.png"):
        await page.screenshot(path=str(path))
    await page.get_by_role("button", name="Create and sign in").click()
    await expect(page.locator("#setup-error")).to_have_text("The two passwords are not the same.")
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_role("button", name="Create and sign in").click()

    console = Console(page)
    await console.expect_connected()
    await expect(page.locator(".topbar .agent-name")).to_have_text("li.lei")
    await expect(page.get_by_role("button", name="Rules")).to_be_visible()  # the first agent is an admin
    cookie = next(c for c in await context.cookies() if c["name"] == "kefu_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""  # scripts cannot read it

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator(".signin .note")).to_have_text("You are signed out.")
    assert [c for c in await context.cookies() if c["name"] == "kefu_session"] == []
    await page.reload()
    await expect(page.get_by_label("Name")).to_be_visible()  # the session is gone on the server too

    await page.goto(f"http://127.0.0.1:{port}/setup")  # setup is over: the sign-in form, not a second admin
    await Console.fill_sign_in(page, "li.lei", PASSWORD)
    await console.expect_connected()
    await page.reload()
    await console.expect_connected()  # the session outlives a reload
    assert watch.page_errors == [] and watch.console_errors == []


async def test_a_wrong_password_is_refused_and_too_many_lock_the_address_out(
    start_web: Callable[..., Any], page: Any
) -> None:
    host: WebHost = await start_web("[auth]\nmax_failures = 3\nfailure_window = 3600.0\n")
    await host.add_agent("alice", password=PASSWORD)
    await page.goto(host.url("/"))
    error = page.locator("#login-error")
    for attempt in range(3):
        await Console.fill_sign_in(page, "alice", f"guess number {attempt}")
        await expect(error).to_have_text("Wrong name or password.")
        await expect(page.get_by_label("Password", exact=True)).to_have_value("")  # nothing typed stays
        await expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    await Console.fill_sign_in(page, "alice", PASSWORD)  # the right one, too late
    await expect(error).to_contain_text("Too many failed attempts from this address. Try again in")
    await expect(page.locator(".topbar")).to_have_count(0)


async def test_a_session_that_runs_out_brings_back_the_sign_in_form_with_a_message(
    start_web: Callable[..., Any], page: Any
) -> None:
    host: WebHost = await start_web()
    await host.add_agent("alice", password=PASSWORD)
    console = await Console.sign_in(page, host, "alice", PASSWORD)

    async def past_its_lifetime(conn: Any) -> None:
        await conn.execute(update(LoginSession).values(created_at=utcnow() - timedelta(hours=13)))

    await host.app[STORE].writer.transaction(past_its_lifetime)
    await expect(page.locator(".signin .note")).to_have_text("Your session has expired. Please sign in again.")
    await Console.fill_sign_in(page, "alice", PASSWORD)
    await console.expect_connected()

    await set_agent(host.app[STORE], "alice", password_hash=hash_password("changed by the admin"))
    await expect(page.locator(".signin .note")).to_have_text(
        "You were signed out (the session ended, or your password changed). Please sign in again.")


ATTACKER_PAGE = """<!doctype html><html><body><script>
window.socket = new Promise((resolve) => {
  const ws = new WebSocket('ws://127.0.0.1:%(port)d/ws/agent');
  ws.onopen = () => resolve('open');
  ws.onclose = (e) => resolve('closed ' + e.code);
});
window.signOut = fetch('http://127.0.0.1:%(port)d/api/agent/logout', {method: 'POST', mode: 'no-cors',
  credentials: 'include'}).then(() => 'sent', () => 'failed');
</script></body></html>"""


class OtherOrigin:
    """A page on another port of the same host: another origin, but the same site, so the browser sends it the
    console's SameSite cookie. ``/?port=P`` serves ATTACKER_PAGE aimed at the host on port P."""

    def __init__(self, server: TestServer) -> None:
        self.origin = f"http://127.0.0.1:{server.port}"

    def url(self, host: WebHost) -> str:
        return f"{self.origin}/?port={host.port}"


@pytest_asyncio.fixture(loop_scope="session")
async def other_origin() -> AsyncIterator[OtherOrigin]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=ATTACKER_PAGE % {"port": int(request.query["port"])}, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = TestServer(app, host="127.0.0.1", port=unused_port())
    await server.start_server()
    yield OtherOrigin(server)
    await server.close()


async def test_a_same_site_page_of_another_origin_can_neither_open_the_agent_socket_nor_sign_out(
    start_web: Callable[..., Any], other_origin: OtherOrigin, page: Any, context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the attacker's origin is even one the host serves the widget to (server.allowed_origins)
    host: WebHost = await start_web(origins_too=(other_origin.origin,))
    await host.add_agent("alice", password=PASSWORD)
    console = await Console.sign_in(page, host, "alice", PASSWORD)

    attacker = await context.new_page()
    caplog.clear()
    await attacker.goto(other_origin.url(host))
    assert await attacker.evaluate("window.socket") == "closed 1006"  # the handshake was refused
    assert await attacker.evaluate("window.signOut") == "sent"
    # the host's log lines reach the standard library's logging as their event dicts
    events = [r.msg for r in caplog.records if r.name == "kefu_host.chat" and isinstance(r.msg, dict)]
    refused = [e for e in events if e["event"] == "console session refused: request from another origin"]
    # the browser did send the cookie (else the host would not have looked at the origin), and it was refused
    assert {(e["origin"], e["path"]) for e in refused} == {
        (other_origin.origin, "/ws/agent"), (other_origin.origin, "/api/agent/logout")}

    await page.reload()  # still signed in: the forged sign-out did nothing
    await console.expect_connected()


async def test_a_change_without_the_csrf_header_is_refused_even_from_the_console_page(
    start_web: Callable[..., Any], page: Any
) -> None:
    host: WebHost = await start_web()
    await host.add_agent("alice", password=PASSWORD)
    await Console.sign_in(page, host, "alice", PASSWORD)
    answer = await page.evaluate("""async () => {
      const bare = await fetch('/api/agent/logout', {method: 'POST', credentials: 'same-origin'});
      const me = await (await fetch('/api/agent/me')).json();
      const signed = await fetch('/api/agent/logout', {method: 'POST', headers: {'X-CSRF-Token': me.csrf_token}});
      return [bare.status, (await bare.json()).error.code, signed.status];
    }""")
    assert answer == [403, "csrf_failed", 204]
    await expect(page.locator(".signin .note")).to_have_text(
        "You were signed out (the session ended, or your password changed). Please sign in again.")
