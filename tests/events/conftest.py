"""Fixtures for business events: a host with signing sources, and a way to post signed events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.testing.host import EVENT_SECRET, TestHost, events_toml

SECRET = EVENT_SECRET
OLD_SECRET = "whsec_b2xkLXNlY3JldC1zdGlsbC1hY2NlcHRlZA=="
SOURCES = events_toml(SECRET, OLD_SECRET)
#: A host with the ``shop`` source: signed events (``post``, ``send``) besides agents and visitors.
EventHost = TestHost


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    async def start(extra: str = "", **kwargs: Any) -> EventHost:
        return EventHost(await start_app(SOURCES + extra, **kwargs))

    return start
