"""Recording a batch of events on PostgreSQL: two statements for the whole batch, whatever its size.

:data:`CLAIM` inserts every event's ``(source, id)`` where absent (``ON CONFLICT DO NOTHING RETURNING``: a copy
already stored, or stored meanwhile by another host, which the insert waits for, comes back as not claimed), then
creates or locks the customers of the claimed events (``ON CONFLICT (uid) DO UPDATE``: a row of each, locked until
the commit, created on first sight) and returns them. Event ids are claimed in ``(source, id)`` order and customers
locked in ``uid`` order, so two hosts recording overlapping batches wait for each other and never deadlock. The
events' changes are then merged in Python (:func:`kefu_host.events.changes.merge`, in the batch's order) and
:data:`UPDATE` writes every changed customer at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

#: The customer columns :data:`CLAIM` returns, in order (as in :mod:`kefu_host.events.record`).
COLUMNS = ("id", "uid", "name", "email", "phone", "avatar_url", "vip_level", "ltv_cents", "tags", "attributes",
           "owner", "last_ip", "last_user_agent", "last_login_at", "field_times")
_JSON = ("tags", "attributes", "field_times")
#: What an event may change (:func:`kefu_host.events.changes.merge`), written back for each changed customer.
WRITTEN = COLUMNS[2:]

CLAIM = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
        AS t(source, event_id, type, occurred_at, uid, payload)
), claimed AS (
    INSERT INTO processed_events (source, event_id, type, occurred_at, received_at, customer_uid, payload)
    SELECT source, event_id, type, occurred_at, $7, uid, payload::json FROM input ORDER BY source, event_id
    ON CONFLICT DO NOTHING
    RETURNING source, event_id, customer_uid
), customers AS (
    INSERT INTO customers (uid, vip_level, ltv_cents, tags, attributes, field_times, created_at, updated_at)
    SELECT uid, 0, 0, '[]'::json, '{}'::json, '{}'::json, $7, $7
    FROM (SELECT DISTINCT customer_uid AS uid FROM claimed WHERE customer_uid IS NOT NULL) AS u ORDER BY uid
    ON CONFLICT (uid) DO UPDATE SET uid = EXCLUDED.uid
    RETURNING id, uid, name, email, phone, avatar_url, vip_level, ltv_cents, tags::text, attributes::text, owner,
              last_ip, last_user_agent, last_login_at, field_times::text
)
SELECT source, event_id, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::int,
       NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text
FROM claimed
UNION ALL
SELECT NULL, NULL, * FROM customers
"""

UPDATE = """
UPDATE customers AS c SET name = u.name, email = u.email, phone = u.phone, avatar_url = u.avatar_url,
    vip_level = u.vip_level, ltv_cents = u.ltv_cents, tags = u.tags::json, attributes = u.attributes::json,
    owner = u.owner, last_ip = u.last_ip, last_user_agent = u.last_user_agent, last_login_at = u.last_login_at,
    field_times = u.field_times::json, updated_at = $15
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::text[])
    AS u(id, name, email, phone, avatar_url, vip_level, ltv_cents, tags, attributes, owner, last_ip,
         last_user_agent, last_login_at, field_times)
WHERE c.id = u.id
"""


async def claim(
    db: Any, items: Sequence[Any], now: datetime
) -> tuple[set[tuple[str, str]], dict[str, dict[str, Any]]]:
    """Claim the events of ``items`` (:class:`~kefu_host.events.record.Pending`); the ``(source, id)`` pairs that
    were new, and the locked customers of those, by uid, as mappings of :data:`COLUMNS`."""
    sources, ids, types, times, uids, payloads = [], [], [], [], [], []
    for pending in items:
        event = pending.event
        sources.append(event.source)
        ids.append(event.id)
        types.append(event.type)
        times.append(event.occurred_at)
        uids.append(pending.uid)
        payloads.append(event.to_json())
    claimed: set[tuple[str, str]] = set()
    customers: dict[str, dict[str, Any]] = {}
    for row in await db.fetch(CLAIM, sources, ids, types, times, uids, payloads, now):
        if row[0] is not None:
            claimed.add((row[0], row[1]))
            continue
        customer = dict(zip(COLUMNS, row[2:], strict=True))
        for name in _JSON:
            text = customer[name]
            customer[name] = orjson.loads(text) if text else ([] if name == "tags" else {})
        customers[customer["uid"]] = customer
    return claimed, customers


async def write_customers(
    db: Any, customers: Sequence[dict[str, Any]], changed: set[str], now: datetime
) -> None:
    """Write back each of ``customers`` (rows locked by :func:`claim`); ``changed`` names the columns events
    changed, and one that is not a customer column fails the batch as the statement would on SQLite."""
    if not customers:
        return
    unknown = changed.difference(WRITTEN)
    if unknown:
        raise ValueError(f"customers has no column {', '.join(sorted(unknown))}")
    columns: list[list[Any]] = [[] for _ in range(len(WRITTEN) + 1)]
    for row in customers:
        columns[0].append(row["id"])
        for n, name in enumerate(WRITTEN, 1):
            value = row.get(name)
            if name in _JSON:
                value = orjson.dumps(value if value is not None else [] if name == "tags" else {}).decode()
            elif name == "last_login_at" and isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            columns[n].append(value)
    await db.execute(UPDATE, *columns, now)
