"""A real host for tests: a config on disk, the app on a loopback socket, and people and systems to put on it.

:func:`write_config` writes a kefu.toml with test secrets and one signing event source; :func:`start_server` runs
the real app (the one ``kefu-host`` serves) on a loopback port; :class:`TestHost` puts agents, visitors, signed
events and agent actions on it. The pytest fixtures in :mod:`kefu_host.testing.pytest_plugin` are built on these.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kefu_host.app import RUNNER_OPTIONS, create_app
from kefu_host.chat.accounts import add_agent
from kefu_host.chat.passwords import hash_password
from kefu_host.chat.tokens import identity_hash
from kefu_host.config import Config
from kefu_host.keys import CONFIG, STORE
from kefu_host.testing.clients import AgentClient, VisitorClient
from kefu_host.testing.events import envelope, signed

ADMIN_TOKEN = "test-admin-token"
VISITOR_SECRET = "test-visitor-secret"
IDENTITY_SECRET = "test-identity-secret"
#: The signing secret of the ``shop`` event source that :func:`write_config` declares.
EVENT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TEAMS = ("support", "vip", "risk-control", "backup", "en-desk")


def base_toml(directory: Path, db_url: str | None = None, teams: Sequence[str] = TEAMS) -> str:
    """A host on a SQLite file in ``directory``, a random port, test secrets and no rules (all to ``support``)."""
    team_list = ", ".join(f'"{t}"' for t in teams)
    return textwrap.dedent(
        f"""
        [server]
        host = "127.0.0.1"
        port = 0
        shutdown_timeout = 5.0
        allowed_origins = ["http://visitor.example"]

        [database]
        url = "{db_url or f"sqlite+aiosqlite:///{directory}/kefu.db"}"

        [rules]
        directory = "rules"
        # most tests run a host without rules (everything to chat.default_team); a real host refuses that
        allow_empty = true

        [secrets]
        visitor_token = "{VISITOR_SECRET}"
        identity = "{IDENTITY_SECRET}"
        admin_token = "{ADMIN_TOKEN}"

        [chat]
        teams = [{team_list}]
        default_team = "support"
        """
    )


def events_toml(secret: str = EVENT_SECRET, *more: str) -> str:
    """The ``shop`` event source, signing with ``secret`` (and accepting ``more``)."""
    secrets = ", ".join(f'"{s}"' for s in (secret, *more))
    return f"\n[events.sources.shop]\nsecrets = [{secrets}]\n"


def write_config(
    directory: Path,
    extra: str = "",
    *,
    db_url: str | None = None,
    name: str = "kefu.toml",
    rules: str | None = None,
    teams: Sequence[str] = TEAMS,
) -> Path:
    """Write kefu.toml (the base plus ``extra`` TOML) and a rules/ folder (with ``rules`` as routing.rule)."""
    (directory / "rules").mkdir(parents=True, exist_ok=True)
    if rules is not None:
        (directory / "rules" / "routing.rule").write_text(textwrap.dedent(rules), encoding="utf-8")
    path = directory / name
    path.write_text(base_toml(directory, db_url, teams) + textwrap.dedent(extra), encoding="utf-8")
    return path


async def start_server(
    config: Config,
    *,
    plugins: Sequence[tuple[str, Mapping[str, Any]]] = (),
    blocked: Sequence[str] = (),
    port: int | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> TestServer:
    """The real app for ``config`` listening on 127.0.0.1 (``port``, else any free one); installed entry points
    are not loaded, so a test has exactly the plugins it names."""
    app = create_app(config, plugins=plugins, blocked=blocked, entry_points=False, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server(**RUNNER_OPTIONS)
    return server


class TestHost:
    """A started app and helpers to put agents, visitors, events and actions on it."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.app: web.Application = client.app

    @property
    def config(self) -> Config:
        return self.app[CONFIG]

    # --- agents and visitors -----------------------------------------------------------------------------------

    async def add_agent(self, name: str, teams: tuple[str, ...] = ("support",), capacity: int = 3, *,
                        password: str | None = None, admin: bool = False) -> str:
        """Create an agent (with a console password and admin rights when asked); returns its token."""
        return await add_agent(self.app[STORE], name, list(teams), capacity, is_admin=admin,
                               password_hash=hash_password(password) if password is not None else None)

    async def visitor_session(self, **body: Any) -> dict[str, Any]:
        """POST /api/visitor/sessions: the token, visitor id and customer id."""
        response = await self.client.post("/api/visitor/sessions", json=body or None)
        assert response.status == 201, await response.text()
        return dict(await response.json())

    async def visitor_token(self, **body: Any) -> str:
        return str((await self.visitor_session(**body))["token"])

    async def visitor(self, token: str | None = None, last_seq: int | None = None, **body: Any) -> VisitorClient:
        """A visitor's socket, after its ``welcome``; ``body`` goes to POST /api/visitor/sessions."""
        token = token or await self.visitor_token(**body)
        query = f"token={token}" + (f"&last_seq={last_seq}" if last_seq is not None else "")
        client = VisitorClient(await self.client.ws_connect(f"/ws/visitor?{query}"))
        client.token = token  # type: ignore[attr-defined]
        await client.expect("welcome")
        return client

    async def identified_visitor(self, uid: str) -> VisitorClient:
        """A visitor signed in to the business site as ``uid`` (a verified identity)."""
        secret = self.config.secrets.identity or IDENTITY_SECRET
        return await self.visitor(user_id=uid, user_hash=identity_hash(secret, uid))

    async def agent(self, token: str, resume: dict[int, int] | None = None, presence: str = "online") -> AgentClient:
        """An agent's socket, after its ``welcome``."""
        query = f"presence={presence}"
        if resume:
            query += "&resume=" + ",".join(f"{c}:{s}" for c, s in resume.items())
        ws = await self.client.ws_connect(f"/ws/agent?{query}", headers={"Authorization": f"Bearer {token}"})
        client = AgentClient(ws)
        await client.expect("welcome")
        return client

    async def chatting(
        self, uid: str | None, agent_name: str = "alice", teams: tuple[str, ...] = ("support",)
    ) -> tuple[AgentClient, VisitorClient, int]:
        """An agent holding a live conversation with customer ``uid`` (None: an anonymous visitor)."""
        agent = await self.agent(await self.add_agent(agent_name, teams=teams))
        visitor = await (self.identified_visitor(uid) if uid is not None else self.visitor())
        cid = int((await visitor.say("hello"))["conversation_id"])
        await agent.expect("assigned")
        return agent, visitor, cid

    # --- business systems ----------------------------------------------------------------------------------------

    async def post(self, payload: Any, secret: str | list[str] = EVENT_SECRET, path: str = "/api/events") -> Any:
        """POST a signed body (an event envelope, or a batch) and return the response."""
        body, headers = signed(secret, payload)
        return await self.client.post(path, data=body, headers=headers)

    async def send(self, event_type: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """A signed event of ``event_type``; asserts it was accepted and returns the host's answer."""
        response = await self.post(envelope(event_type, data, **kw))
        assert response.status == 200, await response.text()
        return dict(await response.json())

    # --- agent actions and the plugin registry -----------------------------------------------------------------

    @staticmethod
    async def call(agent: AgentClient, action: str, args: dict[str, Any] | None = None,
                   conversation_id: int | None = None, ref: str | None = None) -> dict[str, Any]:
        """Send an ``action`` frame and wait for its ``action_result``."""
        ref = ref or agent.new_id()
        frame: dict[str, Any] = {"type": "action", "ref": ref, "action": action, "args": args or {}}
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
        await agent.send(frame)
        return await agent.expect("action_result", ref=ref)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.secrets.admin_token or ADMIN_TOKEN}"}

    async def plugins(self) -> dict[str, dict[str, Any]]:
        """GET /api/plugins, by plugin name."""
        response = await self.client.get("/api/plugins", headers=self.admin_headers())
        assert response.status == 200, await response.text()
        return {p["name"]: p for p in (await response.json())["plugins"]}

    async def plugin_record(self, name: str) -> dict[str, Any]:
        return (await self.plugins())[name]
