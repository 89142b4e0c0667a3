"""``GET /api/agent/targets``: where an agent may transfer a conversation, the teams and the colleagues there now."""

from __future__ import annotations

from aiohttp import web

from kefu_host.chat.callers import agent_or_admin
from kefu_host.http import json_response
from kefu_host.keys import CHAT


async def transfer_targets(request: web.Request) -> web.Response:
    """Every team of ``chat.teams`` with how many of its agents are online, and every other agent with a console
    open (online or away), with its teams and presence. Offline agents are left out: a chat sent to one waits."""
    caller = await agent_or_admin(request)
    if isinstance(caller, web.Response):
        return caller
    chat = request.config_dict[CHAT]
    dispatcher, presence = chat.service.dispatcher, chat.presence
    me = caller.agent.id if caller.agent is not None else None
    teams = [{"name": team, "agents_online": len(dispatcher.online_agents(team))} for team in chat.config.chat.teams]
    agents = []
    for agent in sorted(chat.service.agents.values(), key=lambda a: a.name):
        status = presence.presence(agent.id)
        if agent.id != me and status != "offline":
            slot = dispatcher.agents.get(agent.id)
            agents.append({"name": agent.name, "teams": list(agent.teams), "presence": status,
                           "free": slot.free if slot is not None else 0})
    return json_response({"teams": teams, "agents": agents})


def routes(app: web.Application) -> None:
    app.router.add_get("/api/agent/targets", transfer_targets)
