"""Browser fixtures: Debian's Chromium driven by Playwright against the real app on a real loopback port.

One browser for the session, a fresh context and page per test. Every async fixture and test here runs on the
session's event loop (the browser's connection lives there), so this directory has its own ``aiohttp_client``.
Without /usr/bin/chromium the tests are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from aiohttp.test_utils import TestClient, TestServer, unused_port

from kefu_host.chat.accounts import add_agent
from kefu_host.chat.passwords import hash_password
from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import STORE
from kefu_host.testing.events import envelope, signed
from tests.conftest import IN_CI

CHROMIUM = Path(os.environ.get("KEFU_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Set to write docs/img/console.png, widget.png, widget-rating.png and widget-offline.png from the tests that show
#: them.
SCREENSHOTS = bool(os.environ.get("KEFU_SCREENSHOTS"))
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
EVENT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
IDENTITY_SECRET = "test-identity-secret"
#: Generous: CI runs the suite with one core kept busy.
TIMEOUT_MS = 15_000
# expect() has a default of its own (5 s), apart from the context's: both are hang guards for the same waits, and
# a page that is still loading on a CI core kept busy by another process is not a failure
expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this directory's async tests on the session loop, where the browser and the app live."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and pytest_asyncio.is_async_test(item):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def aiohttp_client() -> AsyncIterator[Callable[[TestServer], Awaitable[TestClient[Any, Any]]]]:
    """pytest-aiohttp's fixture, on the session loop (start_app uses it)."""
    clients: list[TestClient[Any, Any]] = []

    async def go(server: TestServer) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    yield go
    while clients:
        await clients.pop().close()


@dataclass
class Watch:
    """What a page did that a test may want to rule out: script errors, dialogs, CSP violations, console errors."""

    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", lambda msg: msg.type == "error" and not _expected_answer(msg)
                and self.console_errors.append(msg.text))

        async def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            await d.dismiss()

        page.on("dialog", dialog)


#: What the console asks before anyone signs in: "nobody" is a 401 from /api/agent/me and "setup is done" a 410
#: from /api/setup. Chromium reports every 4xx answer as a console error; these two are the expected answers.
EXPECTED_ANSWERS = {("/api/agent/me", "401"), ("/api/setup", "410")}


def _expected_answer(msg: Any) -> bool:
    from urllib.parse import urlsplit

    path = urlsplit(msg.location.get("url", "")).path
    return msg.text.startswith("Failed to load resource") and any(
        path == where and f"status of {status} " in msg.text for where, status in EXPECTED_ANSWERS)


#: Runs in every frame before the page's scripts: records CSP violations where a test can read them.
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(RECORD_CSP)
    yield context
    await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def watch() -> Watch:
    return Watch()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: Any, watch: Watch) -> Any:
    page = await context.new_page()
    watch.attach(page)
    return page


class WebHost:
    """The app on a fixed loopback port, which can be stopped and started again on the same database and port."""

    def __init__(self, start_app: Callable[..., Any], config: Any, plugins: list[tuple[str, dict[str, Any]]],
                 port: int) -> None:
        self._start_app = start_app
        self.config = config
        self.plugins = plugins
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.client: TestClient[Any, Any] | None = None

    def url(self, path: str) -> str:
        return self.origin + path

    async def start(self) -> None:
        self.client = await self._start_app(config=self.config, plugins=self.plugins, port=self.port)

    async def stop(self) -> None:
        assert self.client is not None
        await self.client.close()
        self.client = None

    @property
    def app(self) -> Any:
        assert self.client is not None
        return self.client.app

    async def add_agent(self, name: str, teams: tuple[str, ...] = ("support",), capacity: int = 3, *,
                        password: str | None = None, admin: bool = False) -> str:
        """Create an agent (with a console password and admin rights when asked); returns its token."""
        return await add_agent(self.app[STORE], name, list(teams), capacity, is_admin=admin,
                               password_hash=hash_password(password) if password is not None else None)

    async def send_event(self, event_type: str, data: dict[str, Any]) -> None:
        assert self.client is not None
        body, headers = signed(EVENT_SECRET, envelope(event_type, data))
        response = await self.client.post("/api/events", data=body, headers=headers)
        assert response.status == 200, await response.text()


@pytest.fixture
def start_web(start_app: Callable[..., Any], make_config: Callable[..., Any]) -> Callable[..., Awaitable[WebHost]]:
    """``host = await start_web(extra_toml, plugins=[...])``: the host's own origin is in server.allowed_origins
    (the console, the widget frame and the demo page are all served from it)."""

    async def start(extra: str = "", plugins: list[tuple[str, dict[str, Any]]] | None = None,
                    origins_too: tuple[str, ...] = (), environ: dict[str, str] | None = None) -> WebHost:
        port = unused_port()
        origins = json.dumps([f"http://127.0.0.1:{port}", "http://visitor.example", *origins_too])
        sources = f'\n[events.sources.shop]\nsecrets = ["{EVENT_SECRET}"]\n'
        if "[web]" not in extra:
            sources += "\n[web]\ndemo = true\n"
        config = make_config(textwrap.dedent(extra) + sources,
                             environ={"KEFU_SERVER__ALLOWED_ORIGINS": origins, **(environ or {})})
        host = WebHost(start_app, config, plugins or [], port)
        await host.start()
        return host

    return start


def user_hash(user_id: str) -> str:
    return identity_hash(IDENTITY_SECRET, user_id)


def screenshot_path(name: str) -> Path | None:
    """Where a test saves its screenshot for the docs, when KEFU_SCREENSHOTS asks for it."""
    if not SCREENSHOTS:
        return None
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    return DOCS_IMG / name
