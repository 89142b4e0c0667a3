"""Agent accounts and teams: creation, listing, tokens, passwords. Used by ``kefu-host agents``, the setup page and
at startup."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.sessions import revoke_agent_sessions
from kefu_host.chat.tokens import agent_token, hash_secret, new_agent_secret
from kefu_host.store import Store
from kefu_host.store.models import Agent, AgentTeam, Team, utcnow

if TYPE_CHECKING:
    from kefu_host.chat.sessions import SessionRecord


class AccountError(Exception):
    """A request about agents or teams that cannot be done; the message says why."""


@dataclass(frozen=True)
class AgentRecord:
    id: int
    name: str
    teams: tuple[str, ...]
    capacity: int
    disabled: bool
    created_at: datetime
    last_seen_at: datetime | None
    secret_hash: str = field(repr=False, default="")
    #: At login only: the legacy hash the token matched before ``secret_hash`` replaced it (both name this token).
    legacy_hash: str | None = field(repr=False, default=None)
    is_admin: bool = False
    #: The console password's hash; None: the agent cannot sign in with a password.
    password_hash: str | None = field(repr=False, default=None)
    #: At login only: the console session the request was signed with (None for a ``kfa_`` token).
    session: SessionRecord | None = field(repr=False, default=None)

    def to_dict(self) -> dict[str, object]:
        """What the agent may know about itself (``/api/agent/me``)."""
        return {"id": self.id, "name": self.name, "teams": list(self.teams), "capacity": self.capacity,
                "is_admin": self.is_admin}


async def ensure_teams(store: Store, names: Sequence[str]) -> None:
    """Create the configured teams that the database does not have yet."""

    async def write(conn: AsyncConnection) -> None:
        known = set((await conn.execute(select(Team.name))).scalars())
        missing = [{"name": n, "created_at": utcnow()} for n in names if n not in known]
        if missing:
            statement = insert(Team)
            if store.dialect == "postgresql":  # several nodes starting at once may add the same team
                statement = pg_insert(Team).on_conflict_do_nothing(index_elements=["name"])
            await conn.execute(statement, missing)

    await store.writer.transaction(write)


async def add_agent(store: Store, name: str, teams: Sequence[str], capacity: int, *,
                    password_hash: str | None = None, is_admin: bool = False) -> str:
    """Create an agent in ``teams``; returns its token (shown once, stored only as a hash)."""
    secret = new_agent_secret()

    async def write(conn: AsyncConnection) -> int:
        return await insert_agent(conn, name, teams, capacity, secret, password_hash=password_hash, is_admin=is_admin)

    agent_id = await store.writer.transaction(write)
    return agent_token(agent_id, secret)


async def insert_agent(conn: AsyncConnection, name: str, teams: Sequence[str], capacity: int, secret: str, *,
                       password_hash: str | None, is_admin: bool) -> int:
    """Create an agent inside the caller's transaction; returns its id."""
    if capacity < 1:
        raise AccountError("capacity must be at least 1")
    if not teams:
        raise AccountError("an agent needs at least one --team")
    if (await conn.execute(select(Agent.id).where(Agent.name == name))).first():
        raise AccountError(f"an agent named {name!r} already exists")
    team_ids = await _team_ids(conn, teams)
    agent_id = (
        await conn.execute(
            insert(Agent).values(name=name, secret_hash=hash_secret(secret), capacity=capacity, created_at=utcnow(),
                                 password_hash=password_hash, is_admin=is_admin)
        )
    ).inserted_primary_key[0]
    await conn.execute(insert(AgentTeam), [{"agent_id": agent_id, "team_id": t} for t in team_ids])
    return int(agent_id)


async def rotate_token(store: Store, name: str) -> str:
    """Give the agent a new token; the old one stops working."""
    secret = new_agent_secret()

    async def write(conn: AsyncConnection) -> int:
        agent_id = (await conn.execute(select(Agent.id).where(Agent.name == name))).scalar_one_or_none()
        if agent_id is None:
            raise AccountError(f"no agent named {name!r}")
        await conn.execute(update(Agent).where(Agent.id == agent_id).values(secret_hash=hash_secret(secret)))
        return int(agent_id)

    return agent_token(await store.writer.transaction(write), secret)


async def set_agent(store: Store, name: str, *, disabled: bool | None = None, capacity: int | None = None,
                    teams: Sequence[str] | None = None, password_hash: str | None = None,
                    is_admin: bool | None = None) -> None:
    """Change what is given. A new password or a disable ends the agent's console sessions, in the same
    transaction (their sockets close at the next :class:`~kefu_host.chat.auth.AgentWatch` check)."""

    async def write(conn: AsyncConnection) -> None:
        agent_id = (await conn.execute(select(Agent.id).where(Agent.name == name))).scalar_one_or_none()
        if agent_id is None:
            raise AccountError(f"no agent named {name!r}")
        values: dict[str, object] = {}
        if disabled is not None:
            values["disabled"] = disabled
        if capacity is not None:
            if capacity < 1:
                raise AccountError("capacity must be at least 1")
            # several nodes count the load in the database, and its CHECK keeps capacity at or above it
            load = (await conn.execute(select(Agent.load).where(Agent.id == agent_id))).scalar_one()
            if capacity < load:
                raise AccountError(f"{name} holds {load} conversations now; the capacity can go down to {load} "
                                   "until some close")
            values["capacity"] = capacity
        if password_hash is not None:
            values["password_hash"] = password_hash
        if is_admin is not None:
            values["is_admin"] = is_admin
        if values:
            await conn.execute(update(Agent).where(Agent.id == agent_id).values(**values))
        if disabled or password_hash is not None:
            await revoke_agent_sessions(conn, agent_id)
        if teams is not None:
            team_ids = await _team_ids(conn, teams)
            await conn.execute(delete(AgentTeam).where(AgentTeam.agent_id == agent_id))
            await conn.execute(insert(AgentTeam), [{"agent_id": agent_id, "team_id": t} for t in team_ids])

    await store.writer.transaction(write)


async def list_agents(store: Store) -> list[AgentRecord]:
    async with store.read() as conn:
        agents = (await conn.execute(select(Agent).order_by(Agent.name))).all()
        memberships = (await conn.execute(select(AgentTeam.agent_id, Team.name).join(Team))).all()
    teams: dict[int, list[str]] = {}
    for agent_id, team in memberships:
        teams.setdefault(agent_id, []).append(team)
    return [_record(a, tuple(sorted(teams.get(a.id, ())))) for a in agents]


def _record(agent: Any, teams: tuple[str, ...]) -> AgentRecord:
    """The record of an ``agents`` row (a Core row: the connection returns columns, not ORM objects)."""
    return AgentRecord(agent.id, agent.name, teams, agent.capacity, agent.disabled, agent.created_at,
                       agent.last_seen_at, agent.secret_hash, is_admin=agent.is_admin,
                       password_hash=agent.password_hash)


async def _team_ids(conn: AsyncConnection, names: Sequence[str]) -> list[int]:
    known = dict((await conn.execute(select(Team.name, Team.id))).all())
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f", did you mean {close[0]!r}?" if close else f" (teams: {', '.join(sorted(known))})"
            raise AccountError(f"unknown team {name!r}{hint}")
    return [known[n] for n in dict.fromkeys(names)]


async def get_agent(store: Store, agent_id: int) -> AgentRecord | None:
    async with store.read() as conn:
        agent = (await conn.execute(select(Agent).where(Agent.id == agent_id))).one_or_none()
        if agent is None:
            return None
        teams = (await conn.execute(select(Team.name).join(AgentTeam).where(AgentTeam.agent_id == agent_id))).scalars()
        return _record(agent, tuple(sorted(teams)))


async def agent_by_name(store: Store, name: str) -> AgentRecord | None:
    async with store.read() as conn:
        agent_id = (await conn.execute(select(Agent.id).where(Agent.name == name))).scalar_one_or_none()
    return None if agent_id is None else await get_agent(store, agent_id)


async def any_agent(store: Store) -> bool:
    """Whether the database has an agent at all (else the setup page creates the first)."""
    async with store.read() as conn:
        return (await conn.execute(select(Agent.id).limit(1))).first() is not None


async def rehash_password(store: Store, agent_id: int, old: str, new: str) -> None:
    """Store a password's hash made with today's parameters, unless the password changed meanwhile."""

    async def write(conn: AsyncConnection) -> None:
        await conn.execute(
            update(Agent).where(Agent.id == agent_id, Agent.password_hash == old).values(password_hash=new)
        )

    await store.writer.transaction(write)


async def upgrade_hash(store: Store, agent_id: int, old: str, new: str) -> None:
    """Replace a legacy token hash by ``new``, unless the agent got another token meanwhile."""

    async def write(conn: AsyncConnection) -> None:
        await conn.execute(
            update(Agent).where(Agent.id == agent_id, Agent.secret_hash == old).values(secret_hash=new)
        )

    await store.writer.transaction(write)


@dataclass(frozen=True)
class AgentCredential:
    """What decides whether an agent's open sockets may stay: its token hash and whether it is disabled."""

    secret_hash: str = field(repr=False)
    disabled: bool


async def agent_credentials(store: Store, agent_ids: Sequence[int]) -> dict[int, AgentCredential]:
    """The credentials of these agents (an agent missing from the answer no longer exists)."""
    async with store.read() as conn:
        rows = await conn.execute(
            select(Agent.id, Agent.secret_hash, Agent.disabled).where(Agent.id.in_(list(agent_ids)))
        )
        return {row.id: AgentCredential(row.secret_hash, row.disabled) for row in rows}
