"""Gauges read from the app's state when scraped: nothing on the message path keeps them up to date.

Sockets open by kind, live conversations by status, each team's queue (length, oldest wait) and online agents,
the rule set's reloads and revision. A part of the app that is not up (yet, or any more) is left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from kefu_host import __version__
from kefu_host.keys import CHAT, CONFIG, METRICS, RULES, SOCKETS

if TYPE_CHECKING:
    from kefu_host.chat.service import ChatService
    from kefu_host.rules import RuleSetHolder

#: The statuses a live conversation can have (closed ones are the store's, not the node's).
LIVE_STATUSES = ("queued", "assigned")


class StateCollector:
    """A prometheus_client collector over one app."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        yield from self._families()
        yield from self._samples()

    def _families(self) -> Iterator[Metric]:
        yield InfoMetricFamily("kefu_build", "The host's version.", value={"version": __version__})

    def _samples(self) -> Iterator[Metric]:
        app = self.app
        sockets = app.get(SOCKETS)
        if sockets is not None:
            open_now = GaugeMetricFamily("kefu_websocket_connections", "WebSockets open now, by kind.",
                                         labels=["kind"])
            counts = sockets.by_kind()
            for kind in sorted({"visitor", "agent", *counts}):
                open_now.add_metric([kind], counts.get(kind, 0))
            yield open_now
        chat = app.get(CHAT)
        if chat is not None:
            yield from _chat(chat.service, app[CONFIG].chat.teams)
            app[METRICS].forget_conversations(s.id for s in chat.service.open_copies())
        rules = app.get(RULES)
        if rules is not None:
            yield from _rules(rules.holder)


def _chat(service: ChatService, teams: tuple[str, ...]) -> Iterator[Metric]:
    by_status = dict.fromkeys(LIVE_STATUSES, 0)
    for state in service.open_copies():  # with several nodes: the copies this node holds
        by_status[state.status] = by_status.get(state.status, 0) + 1
    conversations = GaugeMetricFamily("kefu_conversations", "Live conversations this node holds, by status.",
                                      labels=["status"])
    for status, n in by_status.items():
        conversations.add_metric([status], n)
    yield conversations
    dispatcher = service.dispatcher
    now = datetime.now(UTC)
    length = GaugeMetricFamily("kefu_queue_length", "Conversations waiting for an agent, by team.", labels=["team"])
    oldest = GaugeMetricFamily("kefu_queue_oldest_wait_seconds", "How long the longest-waiting conversation of "
                               "the team's queue has waited.", labels=["team"])
    online = GaugeMetricFamily("kefu_agents_online", "Agents online, by team.", labels=["team"])
    for team in sorted({*teams, *dispatcher.queues}):
        waiting, oldest_wait = dispatcher.queue_stats(team, now)
        length.add_metric([team], waiting)
        oldest.add_metric([team], max(0.0, oldest_wait))
        online.add_metric([team], len(dispatcher.online_agents(team)))
    yield length
    yield oldest
    yield online


def _rules(holder: RuleSetHolder) -> Iterator[Metric]:
    reloads = CounterMetricFamily("kefu_rules_reloads", "Rule set reloads, by result (a refused set is a "
                                  "failure).", labels=["result"])
    reloads.add_metric(["success"], holder.reloads)
    reloads.add_metric(["failure"], holder.failures)
    yield reloads
    current = holder.current
    if current is not None:
        yield InfoMetricFamily("kefu_rules", "The active rule set.", value={"revision": current.revision})
        yield GaugeMetricFamily("kefu_rules_active", "Rules in the active set.", value=len(current.rules))
    if holder.loaded_at is not None:
        yield GaugeMetricFamily("kefu_rules_loaded_timestamp_seconds", "When the active rule set was loaded.",
                                value=holder.loaded_at)
    yield GaugeMetricFamily("kefu_rules_last_failure_timestamp_seconds", "When the last reload failed; 0 when "
                            "the last one succeeded.", value=holder.last_error_at or 0.0)
