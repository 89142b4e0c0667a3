"""Chat fixtures: a running host with agents and visitors on real sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kefu_host.testing.host import TestHost

#: A started app and helpers to put people on it (shared with plugin authors' tests).
Host = TestHost


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    async def start(extra: str = "", **kwargs: Any) -> Host:
        return Host(await start_app(extra, **kwargs))

    return start
