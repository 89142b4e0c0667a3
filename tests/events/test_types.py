"""An accepted event's own serialisations agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import orjson

from kefu_host.events.types import Event


def test_the_json_text_is_the_dict_form() -> None:
    for at in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, 3, 4, 5, 120, tzinfo=timezone(timedelta(hours=8)))):
        for data in ({"uid": "u1", "name": "安", "n": [1, 2.5, None]}, MappingProxyType({"uid": "u2"})):
            event = Event("evt_1", "user.profile_updated", at, data, "shop")
            assert orjson.loads(event.to_json()) == event.to_dict()
