"""One log pipeline: JSON lines off a TTY, request ids on every line, secrets never written."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

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


async def test_access_log_carries_the_request_id(start_app: Callable[..., Any], caplog: Any) -> None:
    client = await start_app()
    response = await client.get("/api/plugins", headers={**admin_headers(), "X-Request-Id": "req-abc-123"})
    assert response.headers["X-Request-Id"] == "req-abc-123"
    generated = await client.get("/livez")
    assert len(generated.headers["X-Request-Id"]) == 16
    access = [r.msg for r in caplog.records if r.name == "kefu_host.access"]
    assert any(r["path"] == "/api/plugins" and r["request_id"] == "req-abc-123" and r["status"] == 200 for r in access)
    assert ADMIN_TOKEN not in caplog.text
