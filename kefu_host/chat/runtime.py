"""Everything the chat feature holds while the app runs, opened and closed as one cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from kefu_host.agent_actions import ActionRegistry
from kefu_host.chat.accounts import ensure_teams
from kefu_host.chat.auth import ChatAuth
from kefu_host.chat.assignment import Dispatcher
from kefu_host.chat.broker import Broker, LocalBroker
from kefu_host.chat.hub import Hub
from kefu_host.chat.connection import ResyncNeeded
from kefu_host.chat.cluster_presence import ClusterPresence
from kefu_host.chat.presence import PresenceKeeper
from kefu_host.chat.protocol import Frame, message_frame
from kefu_host.chat.redis_broker import RedisBroker
from kefu_host.chat.seats import MemorySeats, Seats, SqlSeats
from kefu_host.chat.service import ChatService
from kefu_host.config import Config
from kefu_host.keys import CHAT, CLOCK, CONFIG, HOOKS, METRICS, OUTBOX, RULES, STORE, TRACING
from kefu_host.routing.cluster import default_node_id
from kefu_host.routing.router import RulesRouter
from kefu_host.tasks import Unfinished
from kefu_host.tracing import TRACING_OFF, Tracing


@dataclass
class ChatRuntime:
    config: Config
    hub: Hub
    service: ChatService
    presence: PresenceKeeper | ClusterPresence
    auth: ChatAuth
    actions: ActionRegistry
    #: spans for the frames the sockets handle
    tracing: Tracing = TRACING_OFF
    #: what closed sockets still have to do (their presence rows), awaited before the chat stops
    unfinished: Unfinished = field(default_factory=Unfinished)

    async def fetch_frames(self, conversation_id: int, after_seq: int) -> Sequence[Frame]:
        """Stored messages after ``after_seq`` as frames, for resuming sockets; raises when it cannot serve them."""
        state = self.service.known_conversation(conversation_id)
        if state is not None and not self.service.shared:  # other nodes append too: ask the store
            last = state.last_seq
        else:
            view = await self.service.repo.conversation(conversation_id)
            last = view.last_seq if view else 0
        if after_seq > last:
            raise ResyncNeeded("ahead_of_log", last)
        if last - after_seq > self.config.chat.max_replay:
            raise ResyncNeeded("too_far_behind", last)
        messages = await self.service.repo.messages_after(conversation_id, after_seq, self.config.chat.max_replay)
        # notes too, marked private: a visitor's connection passes over their seqs (kefu_host.chat.notes)
        return [message_frame(m) for m in messages]


async def chat_ctx(app: web.Application) -> AsyncIterator[None]:
    config, store = app[CONFIG], app[STORE]
    await ensure_teams(store, config.chat.teams)
    broker = make_broker(config)
    hub = Hub(broker)
    await broker.start()
    seats: Seats = (SqlSeats(store, config.cluster.session_ttl) if config.cluster.enabled
                    else MemorySeats(Dispatcher()))
    router = RulesRouter(app[RULES].holder, app[RULES].catalogue, app[HOOKS], seats.dispatcher,
                         config.rules.timezone, clock=app.get(CLOCK))
    router.metrics, router.tracing = app[METRICS], app[TRACING]
    service = ChatService(config.chat, store, hub, app[HOOKS], router, seats)
    service.metrics = app[METRICS]
    # the webhooks plugin opens it at startup if it runs and has endpoints; until then it records nothing
    app[OUTBOX] = service.repo.outbox
    presence: PresenceKeeper | ClusterPresence = (
        ClusterPresence(service, config.cluster, broker.node_id) if config.cluster.enabled
        else PresenceKeeper(service)
    )
    await presence.start()
    auth = ChatAuth.from_config(config, store)
    await auth.start()
    app[CHAT] = ChatRuntime(config, hub, service, presence, auth, ActionRegistry(app[HOOKS]), app[TRACING])
    yield
    await app[CHAT].unfinished.finish(timeout=10.0)
    await auth.stop()
    await service.board.stop()
    await presence.stop()
    await broker.stop()


def node_id(config: Config) -> str:
    """This process's name in the cluster: ``cluster.node_id``, else host name and process id."""
    return config.cluster.node_id or default_node_id()


def make_broker(config: Config) -> Broker:
    """Redis pub/sub between nodes when ``cluster.redis_url`` is set; else this process alone."""
    if config.cluster.enabled:
        return RedisBroker(config.cluster.redis_url, node_id(config))
    return LocalBroker(node_id(config))
