"""Calling the external HTTP APIs plugins talk to (an ERP, a payment provider): tracing the requests, reading
the answers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from kefu_host.keys import TRACING
from kefu_host.tracing.http import client_trace_configs


def http_tracing(app: web.Application) -> list[aiohttp.TraceConfig]:
    """``trace_configs`` for a plugin's ``aiohttp.ClientSession``: with ``[tracing]`` on, each request is a client
    span under the hook or action that made it and sends ``traceparent``; empty when tracing is off."""
    return client_trace_configs(app[TRACING])


def json_body(raw: bytes) -> Any:
    """The answer's JSON, or None when it is empty or not JSON."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def error_message(data: Any) -> str | None:
    """The API's ``{"error": {"message": ...}}`` (or ``{"message": ...}``), if it sent one, at most 500 characters."""
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else data.get("message")
        if isinstance(message, str) and message:
            return message[:500]
    return None
