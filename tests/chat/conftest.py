"""Chat fixtures: a running host with agents and visitors on real sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kefu_host.chat.accounts import add_agent
from kefu_host.chat.passwords import hash_password
from kefu_host.keys import STORE
from kefu_host.testing.clients import AgentClient, VisitorClient


class Host:
    """A started app and helpers to put people on it."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.app = client.app

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
        token = token or await self.visitor_token(**body)
        query = f"token={token}" + (f"&last_seq={last_seq}" if last_seq is not None else "")
        client = VisitorClient(await self.client.ws_connect(f"/ws/visitor?{query}"))
        client.token = token  # type: ignore[attr-defined]
        await client.expect("welcome")
        return client

    async def agent(self, token: str, resume: dict[int, int] | None = None, presence: str = "online") -> AgentClient:
        query = f"presence={presence}"
        if resume:
            query += "&resume=" + ",".join(f"{c}:{s}" for c, s in resume.items())
        ws = await self.client.ws_connect(f"/ws/agent?{query}", headers={"Authorization": f"Bearer {token}"})
        client = AgentClient(ws)
        await client.expect("welcome")
        return client


@pytest.fixture
def start_host(start_app: Callable[..., Any]) -> Callable[..., Any]:
    async def start(extra: str = "", **kwargs: Any) -> Host:
        return Host(await start_app(extra, **kwargs))

    return start
