"""Who is calling an agents' endpoint: an agent (console session or ``kfa_`` token) or the admin token."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kefu_host.chat.accounts import AgentRecord
from kefu_host.chat.handshake import credential
from kefu_host.http import error_response, is_admin
from kefu_host.keys import AUTH_GUARD, CHAT


@dataclass(frozen=True, slots=True)
class Caller:
    """``agent`` is None for the admin token. Admins are the admin token and agents with ``is_admin``."""

    agent: AgentRecord | None

    @property
    def admin(self) -> bool:
        return self.agent is None or self.agent.is_admin

    def in_team(self, team: str) -> bool:
        """May act for ``team``: an admin, or an agent of the team."""
        return self.admin or (self.agent is not None and team in self.agent.teams)


async def agent_or_admin(request: web.Request, *, admin_token: bool = True) -> Caller | web.Response:
    """The caller, or the 401/403/429 to answer (``admin_token=False``: only agents)."""
    if admin_token and is_admin(request):
        return Caller(None)
    auth = request.config_dict[CHAT].auth
    if not auth.offers_agent(request):
        guard = request.config_dict[AUTH_GUARD]
        refused = guard.refuse(request)
        if refused is not None:
            return refused
        if credential(request) is not None:  # a wrong token counts; no credential at all does not
            guard.failed(request)
        return error_response(401, "unauthorized", "an agent's console session or token is required "
                              "(Authorization: Bearer kfa_...)")
    agent = await auth.agent(request)
    if isinstance(agent, web.Response):
        return agent
    return Caller(agent)
