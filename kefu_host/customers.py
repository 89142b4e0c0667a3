"""Customers: the people visitors are, known by the business user id or anonymous.

Chat creates them when a visitor session starts; business events (see :mod:`kefu_host.events`) keep their profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.values import CustomerView
from kefu_host.inputs import BadInput
from kefu_host.store import Store
from kefu_host.store.dialect import insert_ignore
from kefu_host.store.models import Customer, utcnow

if TYPE_CHECKING:
    from kefu_host.events.changes import CustomerChange

#: Profile fields a verified visitor may fill in when the customer record has no value yet.
VISITOR_PROFILE_FIELDS = ("name", "email", "phone", "avatar_url")


def _column_length(name: str) -> int:
    column_type = Customer.__table__.c[name].type
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


#: The most characters each profile field holds (its column's length, enforced by PostgreSQL).
PROFILE_LIMITS = {name: _column_length(name) for name in VISITOR_PROFILE_FIELDS}


def visitor_profile(body: Mapping[str, Any]) -> dict[str, str]:
    """The profile fields a visitor session body gives (absent, null and empty ones left out); a field that is not
    a string, or longer than its column, raises :class:`~kefu_host.inputs.BadInput` naming it."""
    profile = {}
    for name, limit in PROFILE_LIMITS.items():
        value = body.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > limit:
            raise BadInput(name, f"must be a string of at most {limit} characters")
        profile[name] = value
    return profile


async def create_anonymous(store: Store) -> int:
    async def write(conn: AsyncConnection) -> int:
        now = utcnow()
        result = await conn.execute(
            insert(Customer).values(uid=None, tags=[], attributes={}, field_times={}, created_at=now, updated_at=now)
        )
        return int(result.inserted_primary_key[0])

    return await store.writer.transaction(write)  # type: ignore[no-any-return]


async def ensure_identified(store: Store, uid: str, profile: dict[str, Any] | None = None) -> int:
    """The id of the customer with business user id ``uid``, created if new; fills empty profile fields."""
    profile = {k: v for k, v in (profile or {}).items() if k in VISITOR_PROFILE_FIELDS and isinstance(v, str) and v}

    async def write(conn: AsyncConnection) -> int:
        return await ensure_uid(conn, uid, profile)

    return await store.writer.transaction(write)  # type: ignore[no-any-return]


async def ensure_uid(conn: AsyncConnection, uid: str, profile: dict[str, Any] | None = None) -> int:
    """Inside a write: the customer id for ``uid``, inserting the customer when concurrent writers race for it."""
    now = utcnow()
    await insert_ignore(
        conn,
        Customer,
        {"uid": uid, "tags": [], "attributes": {}, "field_times": {}, "created_at": now, "updated_at": now},
        ["uid"],
    )
    row = (await conn.execute(select(Customer).where(Customer.uid == uid))).one()
    empty = {k: v for k, v in (profile or {}).items() if getattr(row, k) in (None, "")}
    if empty:
        await conn.execute(update(Customer).where(Customer.id == row.id).values(**empty, updated_at=now))
    return int(row.id)


async def set_contact(store: Store, customer_id: int, name: str | None, email: str | None) -> None:
    """Contact details a visitor typed (the offline form). An anonymous customer's are replaced by them; a verified
    customer's profile belongs to the company's business events, so only its empty fields are filled."""
    given = {k: v for k, v in (("name", name), ("email", email)) if v}
    if not given:
        return

    async def write(conn: AsyncConnection) -> None:
        row = (await conn.execute(select(Customer).where(Customer.id == customer_id))).one()
        values = given if row.uid is None else {k: v for k, v in given.items() if getattr(row, k) in (None, "")}
        if values:
            await conn.execute(update(Customer).where(Customer.id == customer_id).values(**values, updated_at=utcnow()))

    await store.writer.transaction(write)


async def apply_change(store: Store, customer_id: int, change: CustomerChange) -> tuple[CustomerView, frozenset[str]]:
    """Apply ``change`` to customer ``customer_id`` as of now (a value a newer event set stays, as for events);
    return the customer as it is after, and what visibly changed. LookupError for an unknown customer, ValueError
    for a lifetime value past its limit."""
    from kefu_host.events.changes import customer_view, merge
    from kefu_host.events.validation import InvalidEvent

    async def write(conn: AsyncConnection) -> tuple[CustomerView, frozenset[str]]:
        query = select(*(Customer.__table__.c[c] for c in _CHANGE_COLUMNS)).where(Customer.id == customer_id)
        found = (await conn.execute(query.with_for_update())).one_or_none()
        if found is None:
            raise LookupError(f"no customer {customer_id}")
        row: dict[str, Any] = dict(found._mapping)
        now = utcnow()
        try:
            updates, changed = merge(row, change, now)
        except InvalidEvent as exc:
            raise ValueError(exc.message) from None
        if updates:
            await conn.execute(update(Customer).where(Customer.id == customer_id).values(**updates, updated_at=now))
            row.update(updates)
        return customer_view(row), changed

    return await store.writer.transaction(write)  # type: ignore[no-any-return]


_CHANGE_COLUMNS = ("id", "uid", "name", "email", "phone", "avatar_url", "vip_level", "ltv_cents", "tags",
                   "attributes", "owner", "last_ip", "last_user_agent", "last_login_at", "field_times")
