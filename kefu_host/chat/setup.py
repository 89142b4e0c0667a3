"""First run: a one-time setup token lets whoever can read the host's log create the first (admin) agent.

At startup on a database with no agents each process makes a random token, stores its SHA-256 in
``setup_tokens`` and logs the setup page's URL with the token in the fragment (``/setup#token=...``): a fragment
never reaches a server, so it is in no access log and no ``Referer``. Any process of the database accepts any of
the stored tokens, so it does not matter which process a load balancer sends the setup page to.

Creating the first agent deletes every stored token in the same transaction and refuses when an agent already
exists, so a token works once, and after that the setup endpoints answer 410. Two setups racing on PostgreSQL:
the second one's delete waits for the first's commit, then finds nothing to delete, and is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_host.chat.accounts import any_agent, insert_agent
from kefu_host.chat.tokens import new_agent_secret
from kefu_host.store import Store
from kefu_host.store.models import Agent, SetupToken, utcnow

#: Conversations the first agent may hold at once (change it later with ``kefu-host agents set``).
FIRST_AGENT_CAPACITY = 3


class SetupDone(Exception):
    """An agent exists: setup is over."""


class BadSetupToken(Exception):
    """The token is not one the host made (or it was used already)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class SetupGate:
    """The setup token of this process and the one-time creation of the first agent."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: The token this process made at startup (for the startup log line); None when setup was not needed.
        self.token: str | None = None
        self._done = False

    async def prepare(self) -> None:
        """Make and store a token when the database has no agent yet."""
        if not await self.required():
            return
        token = secrets.token_urlsafe(24)

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(insert(SetupToken).values(id=_digest(token), created_at=utcnow()))

        await self.store.writer.transaction(write)
        self.token = token

    async def required(self) -> bool:
        """True while the database has no agent (once one exists, the answer stays False without asking)."""
        if not self._done and await any_agent(self.store):
            self._done, self.token = True, None
        return not self._done

    async def token_known(self, token: str) -> bool:
        async with self.store.read() as conn:
            return (await conn.execute(select(SetupToken.id).where(SetupToken.id == _digest(token)))).first() is not None

    async def create_first_agent(self, token: str, name: str, password_hash: str, teams: Sequence[str]) -> int:
        """Create the first agent, an admin in ``teams``, using up ``token``; returns its id.

        Raises :class:`SetupDone`, :class:`BadSetupToken` or :class:`~kefu_host.chat.accounts.AccountError`.
        """
        wanted = _digest(token)

        async def write(conn: AsyncConnection) -> int:
            if (await conn.execute(select(Agent.id).limit(1))).first() is not None:
                raise SetupDone()
            used = set((await conn.execute(delete(SetupToken).returning(SetupToken.id))).scalars())
            if wanted not in used:
                if (await conn.execute(select(Agent.id).limit(1))).first() is not None:
                    raise SetupDone()  # another process finished setup while this delete waited for it
                raise BadSetupToken()
            return await insert_agent(conn, name, teams, FIRST_AGENT_CAPACITY, new_agent_secret(),
                                      password_hash=password_hash, is_admin=True)

        agent_id = await self.store.writer.transaction(write)
        self._done, self.token = True, None
        return agent_id


def setup_link(host: str, port: int, token: str, public_origin: str = "") -> str:
    """The setup page's URL for the startup log: the token rides in the fragment, which browsers never send."""
    if public_origin:
        origin = public_origin
    else:
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
        origin = f"http://[{shown}]:{port}" if ":" in shown and not shown.startswith("[") else f"http://{shown}:{port}"
    return f"{origin}/setup#token={token}"
