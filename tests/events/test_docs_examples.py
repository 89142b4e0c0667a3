"""The integrator's sender in docs/events.md works against a running host, unchanged."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kefu_host.testing.events import envelope
from tests.events.conftest import SECRET

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def sender_from_docs() -> Callable[..., Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    code = next(b for b in blocks if "def send_event" in b)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the documented example, run as a user would
    return namespace["send_event"]  # type: ignore[no-any-return]


async def test_the_documented_sender_is_accepted(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    send_event = sender_from_docs()
    url = str(host.client.make_url("/api/events"))
    event = envelope("user.login", {"uid": "doc-user", "extra": {"vip_level": 3}})
    answer = await asyncio.to_thread(send_event, url, SECRET, event)
    assert answer == {"id": event["id"], "status": "accepted"}
    again = await asyncio.to_thread(send_event, url, SECRET, event)
    assert again["status"] == "duplicate"
