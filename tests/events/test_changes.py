"""What an event does to a customer: the row -> view mapping the recorder hands to effects and plugins."""

from __future__ import annotations

import dataclasses

from kefu_host.chat.values import CustomerView
from kefu_host.events.changes import customer_view


def test_the_view_takes_every_field_from_the_column_of_the_same_name() -> None:
    row = {"id": 7, "uid": "u-7", "name": "Ann", "email": "a@example.com", "phone": "+86 1", "avatar_url": "https://a",
           "vip_level": 3, "ltv_cents": 1250, "tags": ["vip", "cn"], "attributes": {"tier": "gold"}, "owner": "bob",
           "field_times": {"name": "2026-01-01T00:00:00+00:00"}}
    view = customer_view(row)
    for field in dataclasses.fields(CustomerView):
        expected = tuple(row[field.name]) if field.name == "tags" else row[field.name]
        assert getattr(view, field.name) == expected, field.name
    assert view.attributes is not row["attributes"]  # a copy: later changes to the row do not reach the view


def test_missing_columns_get_the_view_defaults() -> None:
    view = customer_view({"id": 1})
    assert (view.uid, view.vip_level, view.ltv_cents, view.tags, view.attributes) == (None, 0, 0, (), {})


def test_field_times_are_the_events_own_iso_timestamps() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from kefu_host.events.changes import CustomerChange, merge

    for at in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=8))),
               datetime(2026, 5, 1, 3, 4, 5, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))):
        updates, changed = merge({"id": 1, "name": None}, CustomerChange(values={"name": "Ann"}), at)
        assert updates["field_times"] == {"name": at.isoformat()} and changed == {"name"}
