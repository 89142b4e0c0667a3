"""One log pipeline: JSON lines off a TTY, request ids on every line, secrets never written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from kefu_host.logs import REDACTED, Redactor, configure_logging
from tests.conftest import ADMIN_TOKEN, admin_headers


def test_secrets_are_redacted_by_key_by_value_and_inside_urls() -> None:
    redact = Redactor(["s3cr3t-value"])
    event = redact(
        None,
        "info",
        {
            "event": "connecting with s3cr3t-value inside",
            "admin_token": "anything",
            "headers": {"Authorization": "Bearer x", "Accept": "json"},
            "dsn": "postgresql+asyncpg://kefu:hunter2@db:5432/kefu",
            "args": ["s3cr3t-value", 3],
        },
    )
    assert event["event"] == f"connecting with {REDACTED} inside"
    assert event["admin_token"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert event["dsn"] == f"postgresql+asyncpg://kefu:{REDACTED}@db:5432/kefu"
    assert event["args"] == [REDACTED, 3]


def test_off_a_tty_every_line_is_json() -> None:
    stream = io.StringIO()
    configure_logging(fmt="auto", secrets=["topsecret"], stream=stream)
    try:
        structlog.get_logger("t").info("hello", token="topsecret", n=1)
        import logging

        logging.getLogger("some.library").warning("stdlib says %s", "topsecret")
    finally:
        configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "hello" and lines[0]["token"] == REDACTED and lines[0]["n"] == 1
    assert lines[1]["event"] == f"stdlib says {REDACTED}" and lines[1]["logger"] == "some.library"
    assert "topsecret" not in stream.getvalue()


@pytest.fixture
def log_stream() -> Iterator[Callable[[str], io.StringIO]]:
    """Send the host's logs to a string in a given format for one test, then back to the suite's setup."""

    def configure(fmt: str) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(fmt=fmt, level="info", secrets=[ADMIN_TOKEN], stream=stream)  # type: ignore[arg-type]
        return stream

    yield configure
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN, "test-visitor-secret", "test-identity-secret"])


async def test_access_log_carries_the_request_id(start_app: Callable[..., Any], log_stream: Any) -> None:
    stream = log_stream("json")
    client = await start_app()
    response = await client.get("/api/plugins", headers={**admin_headers(), "X-Request-Id": "req-abc-123"})
    assert response.headers["X-Request-Id"] == "req-abc-123"
    generated = await client.get("/livez")
    assert len(generated.headers["X-Request-Id"]) == 16
    access = [json.loads(line) for line in stream.getvalue().splitlines() if '"kefu_host.access"' in line]
    mine = [r for r in access if r["path"] == "/api/plugins"]
    assert len(mine) == 1
    assert list(mine[0]) == ["method", "path", "status", "duration_ms", "remote", "request_id", "event", "level",
                             "logger", "timestamp"]  # the shape of every other line: fields, then the standard keys
    assert mine[0]["request_id"] == "req-abc-123" and mine[0]["status"] == 200 and mine[0]["method"] == "GET"
    assert mine[0]["timestamp"].endswith("Z") and mine[0]["level"] == "info"
    assert any(r["path"] == "/livez" and r["request_id"] == generated.headers["X-Request-Id"] for r in access)
    assert ADMIN_TOKEN not in stream.getvalue()


async def test_access_lines_are_redacted(start_app: Callable[..., Any], log_stream: Any) -> None:
    stream = log_stream("json")
    client = await start_app()
    await client.get(f"/api/no-such-thing/{ADMIN_TOKEN}")
    line = next(json.loads(x) for x in stream.getvalue().splitlines() if "/api/no-such-thing/" in x)
    assert line["path"] == f"/api/no-such-thing/{REDACTED}" and line["status"] == 404
    assert ADMIN_TOKEN not in stream.getvalue()


async def test_console_access_lines_go_through_the_structlog_pipeline(
    start_app: Callable[..., Any], log_stream: Any
) -> None:
    stream = log_stream("console")
    client = await start_app()
    await client.get("/livez", headers={"X-Request-Id": "req-console-1"})
    line = next(x for x in stream.getvalue().splitlines() if "req-console-1" in x)
    assert "request" in line and "path=/livez" in line and "status=200" in line


async def test_silencing_the_access_logger_stops_access_lines(start_app: Callable[..., Any], log_stream: Any) -> None:
    stream = log_stream("json")
    client = await start_app()
    await client.get("/livez", headers={"X-Request-Id": "req-loud-0"})  # the connection is open, logging on
    logger = logging.getLogger("kefu_host.access")
    logger.setLevel(logging.WARNING)
    # The server logs a request after answering it; the next request on the connection waits for that.
    try:
        await client.get("/livez", headers={"X-Request-Id": "req-quiet-1"})
        await client.get("/livez", headers={"X-Request-Id": "req-quiet-2"})
    finally:
        logger.setLevel(logging.NOTSET)
    await client.get("/livez", headers={"X-Request-Id": "req-loud-1"})
    await client.get("/livez", headers={"X-Request-Id": "req-loud-2"})
    written = stream.getvalue()
    assert "req-loud-0" in written and "req-loud-1" in written
    assert "req-quiet-1" not in written


class _CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_access_lines_of_one_loop_turn_are_written_together_after_it() -> None:
    import asyncio

    from kefu_host import logs

    stream = _CountingStream()
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN], stream=stream)  # type: ignore[arg-type]
    try:
        sink = logs._access_sink
        assert sink is not None
        for n in range(3):
            sink.write("GET", f"/turn/{n}", 200, 1.5, "127.0.0.1", f"r{n}")
        assert stream.getvalue() == ""  # held until the turn ends
        await asyncio.sleep(0)
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["path"] for line in lines] == ["/turn/0", "/turn/1", "/turn/2"]
        assert stream.writes == 1
        structlog_line = json.loads(_structlog_access_line())
        assert list(lines[0]) == list(structlog_line)  # the same keys, in the same order
        # both ISO 8601 in UTC with microseconds: 2026-11-27T01:02:03.456789Z
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", lines[0]["timestamp"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", structlog_line["timestamp"])
        assert abs(_epoch(lines[0]["timestamp"]) - _epoch(structlog_line["timestamp"])) < 5
    finally:
        configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN])


def test_outside_an_event_loop_an_access_line_is_written_at_once() -> None:
    from kefu_host import logs

    stream = io.StringIO()
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN], stream=stream)
    try:
        assert logs._access_sink is not None
        logs._access_sink.write("GET", f"/x/{ADMIN_TOKEN}", 404, 0.5, "127.0.0.1", "r")
        line = json.loads(stream.getvalue())
        assert line["path"] == f"/x/{REDACTED}" and line["logger"] == "kefu_host.access"
    finally:
        configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN])


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _structlog_access_line() -> str:
    """What the structlog pipeline writes for an access line (as on the console path, but rendered as JSON)."""
    stream = io.StringIO()
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN], stream=stream)
    structlog.get_logger("kefu_host.access").info("request", method="GET", path="/turn/0", status=200,
                                                  duration_ms=1.5, remote="127.0.0.1", request_id="r0")
    return stream.getvalue().splitlines()[0]


def test_access_lines_redact_what_context_vars_add() -> None:
    from kefu_host import logs

    stream = io.StringIO()
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN], stream=stream)
    bound = structlog.contextvars.bind_contextvars(note=f"with {ADMIN_TOKEN}", api_key="k-123")
    try:
        assert logs._access_sink is not None
        logs._access_sink.write("GET", "/x", 200, 0.5, "127.0.0.1", ADMIN_TOKEN)
        line = json.loads(stream.getvalue())
    finally:
        structlog.contextvars.reset_contextvars(**bound)
        configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN])
    assert line["note"] == f"with {REDACTED}" and line["api_key"] == REDACTED and line["request_id"] == REDACTED
    keys = list(line)  # as the structlog pipeline orders them (context variables in the context's own order)
    assert keys[:7] == ["method", "path", "status", "duration_ms", "remote", "request_id", "event"]
    assert set(keys[7:9]) == {"note", "api_key"} and keys[9:] == ["level", "logger", "timestamp"]


def test_lines_written_while_a_request_is_handled_carry_its_id() -> None:
    from kefu_host.http import CURRENT_REQUEST_ID

    stream = io.StringIO()
    configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN], stream=stream)
    token = CURRENT_REQUEST_ID.set("req-inside-1")
    try:
        structlog.get_logger("kefu_host.test").info("during", n=1)
        logging.getLogger("some.library").warning("stdlib during")
    finally:
        CURRENT_REQUEST_ID.reset(token)
        structlog.get_logger("kefu_host.test").info("after")
        configure_logging(fmt="json", level="info", secrets=[ADMIN_TOKEN])
    during, stdlib, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert during["request_id"] == "req-inside-1" and stdlib["request_id"] == "req-inside-1"
    assert list(during)[:3] == ["n", "event", "request_id"]  # where structlog's merged context goes
    assert "request_id" not in after


RAW_PROTOCOL_ERRORS = {
    "not a request line": (b"GARBAGE\r\n\r\n", "GARBAGE"),
    "a 20 KB header": (b"GET /livez HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", "8190 bytes"),
    "a byte not allowed in a header name": (b"GET /livez HTTP/1.1\r\nHost: h\r\nX-\xffBad: 1\r\n\r\n", "header"),
    "TLS on the HTTP port": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", "HTTPS"),
    "a 9 KB request line": (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "8190 bytes"),
    "a control character in a header value": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", "header"),
    "a NUL in the request line": (b"GET /\x00 HTTP/1.1\r\n\r\n", ""),
}


@pytest.mark.parametrize("case", list(RAW_PROTOCOL_ERRORS))
async def test_a_raw_protocol_error_is_one_warning_line_without_a_traceback(
    start_app: Callable[..., Any], log_stream: Any, case: str
) -> None:
    import asyncio

    stream = log_stream("json")
    client = await start_app()
    raw, says = RAW_PROTOCOL_ERRORS[case]
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(raw)
    answer = await asyncio.wait_for(reader.read(), 10)  # the host answers, then closes the connection
    writer.close()
    assert answer.startswith(b"HTTP/1.") and answer.split(b" ", 2)[1] == b"400"

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # what the request caused: lines of the HTTP server, and anything at error level (startup's own warnings aside)
    warnings = [r for r in lines if r["logger"] in ("kefu_host.protocol", "aiohttp.server") or r["level"] == "error"]
    assert len(warnings) == 1, warnings
    (warning,) = warnings
    assert warning["level"] == "warning" and warning["event"] == "bad http request"
    assert warning["logger"] == "kefu_host.protocol" and warning["remote"] == "127.0.0.1"
    assert says in warning["error"] and len(warning["error"]) <= 200  # the parser's words, not the whole header
    assert "exception" not in warning and "Traceback" not in stream.getvalue()


async def test_an_unexpected_exception_in_a_handler_still_logs_its_traceback(
    start_app: Callable[..., Any], log_stream: Any, tmp_path: Any
) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text(
        "from aiohttp import web\nfrom kefu_host import hookimpl\n\n"
        "async def boom(request):\n    raise RuntimeError('the handler broke')\n\n"
        "@hookimpl\ndef kefu_routes():\n    return [web.get('/boom', boom)]\n"
    )
    stream = log_stream("json")
    client = await start_app(plugins=[(str(plugin), {})])
    assert (await client.get("/plugins/broken/boom")).status == 500
    errors = [json.loads(line) for line in stream.getvalue().splitlines() if '"level":"error"' in line]
    assert len(errors) == 1 and errors[0]["logger"] == "aiohttp.server"
    assert "RuntimeError: the handler broke" in errors[0]["exception"]
