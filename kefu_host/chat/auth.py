"""Who is on a chat socket or asking for a conversation, and keeping them honest while they stay.

* :meth:`ChatAuth.agent` checks an agent token (counting failures per address, see :mod:`kefu_host.authguard`).
* :class:`AgentWatch` closes the sockets of an agent that was disabled or given a new token, with 4001, within
  ``auth.agent_check_interval`` seconds, even when the change was made by another process (``kefu-host agents``):
  every interval it reads the rows of the agents that have sockets here, one indexed query (none while no agent is
  connected), and compares them with what each socket authenticated with.
* Visitor tokens (:class:`~kefu_host.chat.tokens.VisitorTokens`) and the per-customer message rate
  (:class:`~kefu_host.chat.ratelimit.SharedBuckets`) live here too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace

import structlog
from aiohttp import web

from kefu_host.chat.accounts import AgentRecord, agent_credentials, get_agent, upgrade_hash
from kefu_host.chat.handshake import credential
from kefu_host.chat.protocol import CLOSE_SESSION_ENDED
from kefu_host.chat.ratelimit import SharedBuckets
from kefu_host.chat.tokens import (
    AgentSecretCheck,
    InvalidToken,
    VisitorClaims,
    VisitorTokens,
    hash_secret,
    is_legacy_hash,
    parse_agent_token,
)
from kefu_host.config import Config
from kefu_host.http import error_response
from kefu_host.keys import AUTH_GUARD
from kefu_host.store import Store, StoreUnavailable

log = structlog.get_logger("kefu_host.chat")


def _accepted_hashes(record: AgentRecord) -> frozenset[str]:
    return frozenset(h for h in (record.secret_hash, record.legacy_hash) if h)


@dataclass(eq=False)
class _Watched:
    agent_id: int
    #: The stored hashes the socket's token matches (a legacy one and its upgrade, or just one).
    hashes: frozenset[str] = field(repr=False)
    ws: web.WebSocketResponse


class AgentWatch:
    """The open agent sockets of this process, and the periodic check that ends those no longer entitled."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store, self.interval = store, interval
        self._sockets: dict[int, set[_Watched]] = {}
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, record: AgentRecord, ws: web.WebSocketResponse) -> object:
        """Watch a socket of ``record`` (from :meth:`ChatAuth.agent`); returns the handle for :meth:`discard`."""
        entry = _Watched(record.id, _accepted_hashes(record), ws)
        agent_id = record.id
        self._sockets.setdefault(agent_id, set()).add(entry)
        return entry

    def discard(self, handle: object) -> None:
        assert isinstance(handle, _Watched)
        entries = self._sockets.get(handle.agent_id)
        if entries is not None:
            entries.discard(handle)
            if not entries:
                del self._sockets[handle.agent_id]

    def poke(self) -> None:
        """Check now rather than at the next interval (an agent was changed in this process)."""
        self._poke.set()

    async def check(self) -> int:
        """Close the sockets of agents gone, disabled or with another token; returns how many were closed."""
        if not self._sockets:
            return 0
        current = await agent_credentials(self.store, list(self._sockets))
        ended: list[tuple[_Watched, str]] = []
        for agent_id, entries in list(self._sockets.items()):
            found = current.get(agent_id)
            reason = ("agent removed" if found is None else "agent disabled" if found.disabled else None)
            for entry in list(entries):
                why = reason or (None if found is None or found.secret_hash in entry.hashes
                                 else "agent token replaced")
                if why is not None:
                    ended.append((entry, why))
                    self.discard(entry)
        for entry, why in ended:
            log.info("closing agent socket", agent_id=entry.agent_id, reason=why)
            task = asyncio.get_running_loop().create_task(
                entry.ws.close(code=CLOSE_SESSION_ENDED, message=why.encode())
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return len(ended)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kefu-agent-watch")

    async def stop(self) -> None:
        for task in [*([self._task] if self._task else []), *self._closing]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.interval)
            self._poke.clear()
            try:
                await self.check()
            except Exception as exc:  # the database is away: try again next interval
                log.warning("agent check failed", error=repr(exc))


@dataclass
class ChatAuth:
    store: Store
    visitor_tokens: VisitorTokens
    agent_secrets: AgentSecretCheck
    agents: AgentWatch
    #: The visitor message rate, one bucket per customer across all their sockets.
    visitor_rate: SharedBuckets

    @classmethod
    def from_config(cls, config: Config, store: Store) -> ChatAuth:
        secrets = config.secrets
        assert secrets.visitor_token, "create_app fills every secret in (kefu_host.config.secrets)"
        return cls(
            store=store,
            visitor_tokens=VisitorTokens(secrets.visitor_token, secrets.visitor_token_previous,
                                         config.auth.visitor_token_ttl),
            agent_secrets=AgentSecretCheck(),
            agents=AgentWatch(store, config.auth.agent_check_interval),
            visitor_rate=SharedBuckets(config.chat.visitor_rate, config.chat.visitor_burst),
        )

    async def start(self) -> None:
        await self.agents.start()

    async def stop(self) -> None:
        await self.agents.stop()

    async def agent(self, request: web.Request) -> AgentRecord | web.Response:
        """The agent whose token the request carries, or the 401 (429 after too many failures) to answer."""
        guard = request.config_dict[AUTH_GUARD]
        refused = guard.refuse(request)
        if refused is not None:
            return refused
        token = credential(request)
        try:
            if token is None:
                raise InvalidToken("an agent token is required (Authorization: Bearer kfa_...)")
            agent_id, secret = parse_agent_token(token)
            record = await get_agent(self.store, agent_id)
            if record is None or record.disabled or not await self.agent_secrets.check(secret, record.secret_hash):
                raise InvalidToken("agent token not valid")
        except InvalidToken as exc:
            guard.failed(request)
            return error_response(401, "unauthorized", str(exc))
        if is_legacy_hash(record.secret_hash):
            upgraded = hash_secret(secret)
            try:
                await upgrade_hash(self.store, record.id, record.secret_hash, upgraded)
            except StoreUnavailable:
                log.warning("could not upgrade an agent token hash; trying again at its next login", agent_id=record.id)
            record = replace(record, secret_hash=upgraded, legacy_hash=record.secret_hash)
        return record

    def visitor(self, request: web.Request, token: str | None) -> VisitorClaims | web.Response:
        """The visitor whose token is given, or the 401 (429 after too many failures) to answer."""
        guard = request.config_dict[AUTH_GUARD]
        refused = guard.refuse(request)
        if refused is not None:
            return refused
        try:
            if token is None:
                raise InvalidToken("a visitor token is required (POST /api/visitor/sessions)")
            return self.visitor_tokens.verify(token)
        except InvalidToken as exc:
            guard.failed(request)
            return error_response(401, "unauthorized", str(exc))
