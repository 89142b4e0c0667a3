"""The host's counters and histograms, and the one-line calls the code paths record with.

Every app has its own :class:`Metrics` with its own registry (tests start many apps in one process). Counters are
plain numbers read when scraped (:class:`Counter`); histograms are prometheus_client's. State that
can be read when scraped (queues, conversations, sockets, rule reloads) is not counted here but read then, by
:mod:`kefu_host.metrics.state`. :class:`MetricsOff` has the same methods doing nothing, for ``metrics.enabled =
false``. Names and labels are listed in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

#: Seconds, for waits people feel: queue wait, time to the first answer.
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Seconds, for work the host does on a request's path.
WORK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
#: Conversations remembered as answered at most (live ones are far fewer; a scrape prunes the closed ones).
MAX_ANSWERED = 100_000


class Count:
    """What a socket counts with: a counter child, or nothing (:data:`NOT_COUNTED`)."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        pass


NOT_COUNTED = Count()


class Cell(Count):
    """One series of a :class:`Counter`: a plain number. Every count happens on the event loop's thread, so it
    needs no lock, unlike prometheus_client's counters (a lock per step, several times the cost of the step)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class Counter:
    """A counter family read when scraped; ``labels(...)`` hands out its cells (cached by the caller)."""

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), *,
                 registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.cells: dict[tuple[str, ...], Cell] = {}
        if not self.labelnames:
            self.cells[()] = Cell()
        registry.register(self)

    def labels(self, *values: str) -> Cell:
        cell = self.cells.get(values)
        if cell is None:
            cell = self.cells[values] = Cell()
        return cell

    def inc(self, amount: float = 1) -> None:
        self.cells[()].inc(amount)

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> list[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, cell in list(self.cells.items()):
            family.add_metric(values, cell.value)
        return [family]


class Buckets:
    """One series of a :class:`Histogram`: a count per bucket and the sum, plain numbers like :class:`Cell`."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # bisect_left: a bucket's bound is inclusive (le)
        self.sum += value


class Histogram:
    """A histogram family read when scraped, with cumulative ``le`` buckets as Prometheus wants them."""

    def __init__(self, name: str, documentation: str, labelnames: Iterable[str] = (), *,
                 buckets: tuple[float, ...], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self.series: dict[tuple[str, ...], Buckets] = {}
        if not self.labelnames:
            self.series[()] = Buckets(self.bounds)
        registry.register(self)

    def labels(self, *values: str) -> Buckets:
        series = self.series.get(values)
        if series is None:
            series = self.series[values] = Buckets(self.bounds)
        return series

    def observe(self, value: float) -> None:
        self.series[()].observe(value)

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> list[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        labels = [f"{b:g}" if b != int(b) else f"{b:.1f}" for b in self.bounds] + ["+Inf"]
        for values, series in list(self.series.items()):
            running, cumulative = 0, []
            for le, n in zip(labels, series.counts, strict=True):
                running += n
                cumulative.append((le, running))
            family.add_metric(list(values), cumulative, series.sum)
        return [family]


class SocketCounters:
    """The counters one socket kind bumps on its hot path, bound to their labels once."""

    __slots__ = ("delivered", "too_slow")

    def __init__(self, delivered: Any = NOT_COUNTED, too_slow: Any = NOT_COUNTED) -> None:
        self.delivered = delivered
        self.too_slow = too_slow


NO_SOCKET_COUNTERS = SocketCounters()


class MetricsOff:
    """Metrics turned off: every recording call does nothing."""

    enabled = False
    registry: CollectorRegistry | None = None

    def sockets(self, kind: str) -> SocketCounters:
        return NO_SOCKET_COUNTERS

    def socket_opened(self, kind: str) -> None:
        pass

    def message_stored(self, sender: str, kind: str, conversation_id: int, queued_at: datetime | None) -> None:
        pass

    def assigned(self, team: str, queued_at: datetime) -> None:
        pass

    def decided(self, trigger: str, fired: Iterable[str]) -> None:
        pass

    def event(self, event_type: str, outcome: str) -> None:
        pass

    def event_refused(self, reason: str) -> None:
        pass

    def webhook(self, endpoint: str, result: str) -> None:
        pass

    def hook(self, plugin: str, hook: str, seconds: float, outcome: str) -> None:
        pass

    def store_batch(self, size: int, seconds: float) -> None:
        pass

    def store_batch_failed(self) -> None:
        pass

    def store_refused(self, lane: str) -> None:
        pass

    def forget_conversations(self, live: Iterable[int]) -> None:
        pass


class Metrics(MetricsOff):
    """Every counted metric of one app, in ``registry``."""

    enabled = True

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.messages_stored = Counter("kefu_chat_messages_stored", "Chat messages stored, by sender.",
                                       ["sender"], registry=r)
        self.messages_delivered = Counter(
            "kefu_chat_messages_delivered", "Stored message frames sent to sockets, by socket kind.", ["kind"],
            registry=r)
        self.sockets_opened = Counter("kefu_websocket_connections_opened", "WebSockets opened, by kind.", ["kind"],
                                      registry=r)
        self.too_slow = Counter("kefu_websocket_send_queue_closes",
                                "Sockets closed with 4008 because their send queue was full, by kind.", ["kind"],
                                registry=r)
        self.first_reply = Histogram("kefu_chat_first_reply_seconds",
                                     "From a conversation's (re)opening to its first agent message.",
                                     buckets=WAIT_BUCKETS, registry=r)
        self.queue_wait = Histogram("kefu_chat_queue_wait_seconds",
                                    "From a conversation's arrival in a queue to its assignment.",
                                    buckets=WAIT_BUCKETS, registry=r)
        self.assignments = Counter("kefu_chat_assignments", "Conversations assigned to an agent, by team.", ["team"],
                                   registry=r)
        self.decisions = Counter("kefu_routing_decisions", "Routing decisions made by the rules, by trigger.",
                                 ["trigger"], registry=r)
        self.rules_fired = Counter("kefu_rule_decisions", "Routing decisions a rule fired in, by rule id.", ["rule"],
                                   registry=r)
        self.events = Counter("kefu_events", "Business events recorded, by type and outcome (accepted, duplicate).",
                              ["type", "outcome"], registry=r)
        self.events_refused = Counter("kefu_events_refused", "Event requests refused, by reason.", ["reason"],
                                      registry=r)
        self.webhooks = Counter("kefu_webhook_deliveries",
                                "Webhook delivery attempts, by endpoint and result (delivered, retry, dead).",
                                ["endpoint", "result"], registry=r)
        self.dead_letters = Counter("kefu_webhook_dead_letters", "Webhook deliveries given up, by endpoint.",
                                    ["endpoint"], registry=r)
        self.hook_calls = Counter("kefu_hook_calls", "Plugin hook implementations called.", ["plugin", "hook"],
                                  registry=r)
        self.hook_failures = Counter("kefu_hook_failures", "Plugin hook implementations that raised.",
                                     ["plugin", "hook"], registry=r)
        self.hook_timeouts = Counter("kefu_hook_timeouts", "Plugin hook implementations that timed out.",
                                     ["plugin", "hook"], registry=r)
        self.hook_seconds = Histogram("kefu_hook_duration_seconds", "Time plugin hook implementations took.",
                                      ["plugin", "hook"], buckets=WORK_BUCKETS, registry=r)
        self.batch_size = Histogram("kefu_store_batch_size", "Writes per group commit.", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.commit_seconds = Histogram("kefu_store_commit_seconds", "Time a group commit took.",
                                        buckets=WORK_BUCKETS, registry=r)
        self.batches_failed = Counter("kefu_store_failed_batches", "Group commits that failed (and were retried "
                                      "item by item).", registry=r)
        self.writes_refused = Counter("kefu_store_refused_writes", "Writes refused because their writer lane was full "
                                      "(store_busy), by lane (chat, events).", ["lane"], registry=r)
        self._sockets: dict[str, SocketCounters] = {}
        self._hooks: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}
        #: conversation -> the opening (its queued_at) an agent already answered, for the first-reply histogram
        self._answered: dict[int, datetime] = {}

    def sockets(self, kind: str) -> SocketCounters:
        counters = self._sockets.get(kind)
        if counters is None:
            counters = self._sockets[kind] = SocketCounters(self.messages_delivered.labels(kind),
                                                            self.too_slow.labels(kind))
        return counters

    def socket_opened(self, kind: str) -> None:
        self.sockets_opened.labels(kind).inc()

    def message_stored(self, sender: str, kind: str, conversation_id: int, queued_at: datetime | None) -> None:
        self.messages_stored.labels(sender).inc()
        if sender == "agent" and kind != "note" and queued_at is not None:
            if self._answered.get(conversation_id) != queued_at:
                if len(self._answered) >= MAX_ANSWERED:  # nobody scrapes (which prunes it): stay bounded
                    self._answered.clear()
                self._answered[conversation_id] = queued_at
                self.first_reply.observe(max(0.0, _since(queued_at)))

    def assigned(self, team: str, queued_at: datetime) -> None:
        self.assignments.labels(team).inc()
        self.queue_wait.observe(max(0.0, _since(queued_at)))

    def decided(self, trigger: str, fired: Iterable[str]) -> None:
        self.decisions.labels(trigger).inc()
        rules = self.rules_fired
        for rule in fired:
            rules.labels(rule).inc()

    def event(self, event_type: str, outcome: str) -> None:
        self.events.labels(event_type, outcome).inc()

    def event_refused(self, reason: str) -> None:
        self.events_refused.labels(reason).inc()

    def webhook(self, endpoint: str, result: str) -> None:
        self.webhooks.labels(endpoint, result).inc()
        if result == "dead":
            self.dead_letters.labels(endpoint).inc()

    def hook(self, plugin: str, hook: str, seconds: float, outcome: str) -> None:
        """``outcome``: ok, failed or timeout."""
        children = self._hooks.get((plugin, hook))
        if children is None:
            children = self._hooks[(plugin, hook)] = (
                self.hook_calls.labels(plugin, hook), self.hook_failures.labels(plugin, hook),
                self.hook_timeouts.labels(plugin, hook), self.hook_seconds.labels(plugin, hook),
            )
        calls, failures, timeouts, duration = children
        calls.inc()
        duration.observe(seconds)
        if outcome == "failed":
            failures.inc()
        elif outcome == "timeout":
            timeouts.inc()

    def store_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def store_batch_failed(self) -> None:
        self.batches_failed.inc()

    def store_refused(self, lane: str) -> None:
        self.writes_refused.labels(lane).inc()

    def forget_conversations(self, live: Iterable[int]) -> None:
        """Drop first-reply marks of conversations no longer live (called at scrape time)."""
        keep = set(live)
        for cid in [c for c in self._answered if c not in keep]:
            del self._answered[cid]


def _since(moment: datetime) -> float:
    if moment.tzinfo is None:  # SQLite hands times back without their zone; the store writes UTC
        moment = moment.replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()
