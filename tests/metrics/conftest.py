"""Reading /metrics the way Prometheus does: the text format, parsed, each series keyed by its labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import admin_headers
from tests.events.conftest import SOURCES, EventHost
from tests.webhooks.conftest import receivers  # noqa: F401 (a fixture these tests use too)


class Scrape:
    """One scrape: the families by name, and the value of each sample by name and labels (``node`` left out)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.nodes: set[str] = set()
        for family in self.families.values():
            for s in family.samples:
                self.nodes.add(s.labels.get("node", ""))
                labels = frozenset((k, v) for k, v in s.labels.items() if k != "node")
                self.samples[(s.name, labels)] = s.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the series does not exist (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: TestClient[Any, Any]) -> Scrape:
    response = await client.get("/metrics", headers=admin_headers())
    assert response.status == 200, await response.text()
    return Scrape(await response.text())


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    """A host with the event source of the events tests."""

    async def start(extra: str = "", **kwargs: Any) -> EventHost:
        return EventHost(await start_app(SOURCES + extra, **kwargs))

    return start
