"""Fixtures for business events: a host with signing sources, and a way to post signed events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.testing.events import envelope, signed
from tests.chat.conftest import Host

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_b2xkLXNlY3JldC1zdGlsbC1hY2NlcHRlZA=="
SOURCES = f"""
[events.sources.shop]
secrets = ["{SECRET}", "{OLD_SECRET}"]
"""


class EventHost(Host):
    async def post(self, payload: Any, secret: str | list[str] = SECRET, path: str = "/api/events") -> Any:
        body, headers = signed(secret, payload)
        return await self.client.post(path, data=body, headers=headers)

    async def send(self, event_type: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = await self.post(envelope(event_type, data, **kw))
        assert response.status == 200, await response.text()
        return dict(await response.json())


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    async def start(extra: str = "", **kwargs: Any) -> EventHost:
        return EventHost(await start_app(SOURCES + extra, **kwargs))

    return start
