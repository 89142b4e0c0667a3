"""Who is on a chat socket or asking for a conversation, and keeping them honest while they stay.

* :meth:`ChatAuth.agent` is the one way an agent is authenticated on HTTP and on ``/ws/agent``: a ``kfa_`` token
  (``Authorization: Bearer`` or ``?token=``), else the console's session cookie (:mod:`kefu_host.chat.cookies`),
  which must come from the console's origin and, for a method that changes something, carry the session's
  ``X-CSRF-Token``. Failures count per address (see :mod:`kefu_host.authguard`).
* :class:`AgentWatch` closes the sockets of an agent that was disabled or given a new token, and those signed with
  a session that ended (signed out, a new password, expired), with 4001, within ``auth.agent_check_interval``
  seconds, even when the change was made by another process (``kefu-host agents``): every interval it reads the
  rows of the agents (and sessions) that have sockets here, one indexed query each (none while no agent is
  connected), and compares them with what each socket authenticated with. An open console socket counts as use of
  its session, so the idle timeout does not end a console that is open.
* Visitor tokens (:class:`~kefu_host.chat.tokens.VisitorTokens`) and the per-customer message rate
  (:class:`~kefu_host.chat.ratelimit.SharedBuckets`) live here too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog
from aiohttp import web

from kefu_host.chat import cookies
from kefu_host.chat.accounts import AgentRecord, agent_credentials, get_agent, upgrade_hash
from kefu_host.chat.handshake import credential
from kefu_host.chat.passwords import PasswordCheck
from kefu_host.chat.protocol import CLOSE_SESSION_ENDED
from kefu_host.chat.ratelimit import SharedBuckets
from kefu_host.chat.sessions import SessionRecord, SessionStore, csrf_matches
from kefu_host.chat.setup import SetupGate
from kefu_host.chat.tokens import (
    AgentSecretCheck,
    InvalidToken,
    VisitorClaims,
    VisitorTokens,
    hash_secret,
    is_legacy_hash,
    parse_agent_token,
)
from kefu_host.config import Config, WebConfig
from kefu_host.http import error_response
from kefu_host.keys import AUTH_GUARD
from kefu_host.store import Store, StoreUnavailable
from kefu_host.tasks import stop_tasks, wait_event

log = structlog.get_logger("kefu_host.chat")


def _accepted_hashes(record: AgentRecord) -> frozenset[str]:
    return frozenset(h for h in (record.secret_hash, record.legacy_hash) if h)


@dataclass(eq=False)
class _Watched:
    agent_id: int
    #: The stored hashes the socket's token matches (a legacy one and its upgrade, or just one).
    hashes: frozenset[str] = field(repr=False)
    ws: web.WebSocketResponse
    #: The console session the socket was opened with; None for a token.
    session: str | None = field(default=None, repr=False)


class AgentWatch:
    """The open agent sockets of this process, and the periodic check that ends those no longer entitled."""

    def __init__(self, store: Store, interval: float, sessions: SessionStore) -> None:
        self.store, self.interval, self.sessions = store, interval, sessions
        self._sockets: dict[int, set[_Watched]] = {}
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, record: AgentRecord, ws: web.WebSocketResponse) -> object:
        """Watch a socket of ``record`` (from :meth:`ChatAuth.agent`); returns the handle for :meth:`discard`."""
        entry = _Watched(record.id, _accepted_hashes(record), ws, record.session.id if record.session else None)
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
        """Close the sockets of agents gone, disabled or with another token, and of sessions that ended; returns
        how many were closed. The sessions of the sockets that stay are marked as used."""
        if not self._sockets:
            return 0
        # judge only the sockets open when the reads start: one opened meanwhile may be newer than what they find
        watched = {agent_id: list(entries) for agent_id, entries in self._sockets.items()}
        current = await agent_credentials(self.store, list(watched))
        sessions = await self.sessions.current(
            [e.session for entries in watched.values() for e in entries if e.session is not None])
        now = self.sessions.clock()
        ended: list[tuple[_Watched, str]] = []
        used: set[str] = set()
        for agent_id, entries in watched.items():
            found = current.get(agent_id)
            reason = ("agent removed" if found is None else "agent disabled" if found.disabled else None)
            for entry in entries:
                why = reason or self._why_it_ends(entry, found.secret_hash if found else "", sessions, now)
                if why is not None:
                    ended.append((entry, why))
                    self.discard(entry)
                elif entry.session is not None and self.sessions.stale(sessions[entry.session], now):
                    used.add(entry.session)
        for entry, why in ended:
            log.info("closing agent socket", agent_id=entry.agent_id, reason=why)
            task = asyncio.get_running_loop().create_task(
                entry.ws.close(code=CLOSE_SESSION_ENDED, message=why.encode())
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if used:  # after the closing: a store that cannot write now must not keep an ended socket open
            await self.sessions.touch(sorted(used))
        return len(ended)

    def _why_it_ends(self, entry: _Watched, secret_hash: str, sessions: dict[str, SessionRecord],
                        now: datetime) -> str | None:
        """Why the socket must close, or None."""
        if entry.session is None:
            return None if secret_hash in entry.hashes else "agent token replaced"
        record = sessions.get(entry.session)
        if record is None:
            return "signed out"
        return "session expired" if self.sessions.expired(record, now) else None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kefu-agent-watch")

    async def stop(self) -> None:
        await stop_tasks(self._task, *self._closing)

    async def _run(self) -> None:
        while True:
            await wait_event(self._poke, self.interval)
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
    web_config: WebConfig
    sessions: SessionStore
    passwords: PasswordCheck
    setup: SetupGate

    @classmethod
    def from_config(cls, config: Config, store: Store) -> ChatAuth:
        secrets = config.secrets
        assert secrets.visitor_token, "create_app fills every secret in (kefu_host.config.secrets)"
        sessions = SessionStore(store, config.web.session_idle_timeout, config.web.session_lifetime)
        return cls(
            store=store,
            visitor_tokens=VisitorTokens(secrets.visitor_token, secrets.visitor_token_previous,
                                         config.auth.visitor_token_ttl),
            agent_secrets=AgentSecretCheck(),
            agents=AgentWatch(store, config.auth.agent_check_interval, sessions),
            visitor_rate=SharedBuckets(config.chat.visitor_rate, config.chat.visitor_burst),
            web_config=config.web,
            sessions=sessions,
            passwords=PasswordCheck(),
            setup=SetupGate(store),
        )

    async def start(self) -> None:
        await self.setup.prepare()
        await self.agents.start()

    async def stop(self) -> None:
        await self.agents.stop()

    def offers_agent(self, request: web.Request) -> bool:
        """The request carries an agent credential (a ``kfa_`` token, or a session cookie and no other token)."""
        token = credential(request)
        return token.startswith("kfa_") if token is not None else cookies.session_secret(request) is not None

    async def agent(self, request: web.Request) -> AgentRecord | web.Response:
        """The agent the request is signed by (a token, else the session cookie), or the answer to give: 401
        (429 after too many failures), 403 for a cookie from another origin or without the CSRF header."""
        guard = request.config_dict[AUTH_GUARD]
        refused = guard.refuse(request)
        if refused is not None:
            return refused
        token = credential(request)
        if token is None and (secret := cookies.session_secret(request)) is not None:
            return await self._by_session(request, secret)
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

    async def _by_session(self, request: web.Request, secret: str) -> AgentRecord | web.Response:
        refused = cookies.origin_refused(request, self.web_config, required=cookies.is_websocket(request))
        if refused is not None:  # a page of another origin tried the agent's cookie: worth an operator's look
            log.warning("console session refused: request from another origin", origin=request.headers.get("Origin"),
                        path=request.path)
            return refused
        if request.method not in cookies.SAFE_METHODS and not csrf_matches(secret, cookies.csrf_header(request)):
            return error_response(403, "csrf_failed", f"a {request.method} signed by the console session needs its "
                                  f"{cookies.CSRF_HEADER} header (from POST /api/agent/login or GET /api/agent/me)")
        session = await self.sessions.find(secret)
        record = await get_agent(self.store, session.agent_id) if session is not None else None
        if session is None or record is None or record.disabled:
            request.config_dict[AUTH_GUARD].failed(request)
            response = error_response(401, "unauthorized", "the console session has ended (signed out, expired or "
                                      "the password changed); sign in again")
            cookies.clear_session_cookie(response, request)
            return response
        if self.sessions.stale(session):
            try:
                await self.sessions.touch([session.id])
            except StoreUnavailable:
                log.warning("could not record a session's use; it may expire early", agent_id=record.id)
        return replace(record, session=session)

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
