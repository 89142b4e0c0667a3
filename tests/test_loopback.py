"""Serving a simulator on loopback: which addresses count, a free port on request, a taken port in one line."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from kefu_host.loopback import LoopbackServer, SimulatorError, is_loopback, require_loopback


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("LOCALHOST", True), ("0.0.0.0", False), ("10.0.0.1", False), ("erp.example.com", False), ("", False),
     (None, False)],
)
def test_what_counts_as_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_a_simulator_url_must_be_plain_http_on_loopback() -> None:
    require_loopback("base_url", "http://127.0.0.1:8090", "the simulator")
    require_loopback("base_url", "http://[::1]:0", "the simulator")
    for url in ("https://127.0.0.1:8090", "http://0.0.0.0:8090", "http://erp.internal:8090"):
        with pytest.raises(ValueError, match=r"^base_url: the simulator listens only on a loopback http address"):
            require_loopback("base_url", url, "the simulator")


def _hello() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": True})

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


async def test_port_zero_serves_on_a_free_port_and_says_which() -> None:
    server = await LoopbackServer.start(_hello(), "http://127.0.0.1:0", name="the test simulator", setting="x.url")
    try:
        assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/hello") as answer:
            assert await answer.json() == {"hello": True}
    finally:
        await server.close()


async def test_a_taken_port_is_one_line_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SimulatorError) as info:
            await LoopbackServer.start(_hello(), f"http://127.0.0.1:{port}", name="the test simulator",
                                       setting="plugins.x.url")
    assert str(info.value).startswith(
        f"the test simulator cannot listen on 127.0.0.1:{port}: the port is already in use. Stop what listens "
        "there, or set plugins.x.url to a free loopback port (port 0 picks one)"
    )
    assert "\n" not in str(info.value)
