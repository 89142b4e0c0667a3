"""Gathering the facts a decision needs, before it is made: rules never do I/O.

Only what the active rule set reads is gathered: queue statistics for the teams it names, plugin facts only when
it uses a plugin's field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from kefu_host.chat.assignment import Dispatcher
from kefu_host.chat.values import ConversationView, CustomerView, MessageView
from kefu_host.rules import RuleSet, time_facts

_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def guess_language(text: str) -> str | None:
    """A script-based guess for ``message.lang`` when the client did not say: zh, ja, ko, or en for plain
    Latin text of three words or more; None when unsure."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _CJK.search(text):
        return "zh"
    if len(_LATIN_WORD.findall(text)) >= 3 and text.isascii():
        return "en"
    return None


def customer_facts(customer: CustomerView) -> dict[str, Any]:
    return {
        "customer.uid": customer.uid,
        "customer.name": customer.name,
        "customer.email": customer.email,
        "customer.ltv": customer.ltv,
        "customer.vip_level": customer.vip_level,
        "customer.tags": customer.tags,
        "customer.attributes": customer.attributes,
        "customer.owner": customer.owner,
        "customer.identified": customer.uid is not None,
    }


def gather(
    ruleset: RuleSet,
    conversation: ConversationView,
    customer: Mapping[str, Any],
    message: MessageView | None,
    queues: QueueFacts,
    timezone: ZoneInfo,
    extra: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The facts for one decision; ``now`` (aware, UTC) is the moment the time facts describe."""
    now = now or dt.datetime.now(dt.UTC)
    facts = dict(customer)
    facts.update(
        {
            "conversation.channel": conversation.channel,
            "conversation.status": conversation.status,
            "conversation.team": conversation.team,
            "conversation.transfers": conversation.transfers,
            "conversation.wait_time": (now - conversation.queued_at).total_seconds()
            if conversation.status == "queued" and conversation.queued_at
            else 0.0,
        }
    )
    used = ruleset.fields_used
    if message is not None:
        facts["message.text"] = message.body
        facts["message.channel"] = conversation.channel
        if "message.lang" in used:
            lang = guess_language(message.body)
            if lang is not None:
                facts["message.lang"] = lang
    if "time.hour" in used or "time.weekday" in used:
        facts.update(time_facts(now.astimezone(timezone)))
    if any(name.startswith("queue.") for name in used):
        facts.update(queues(ruleset, now))
    if extra:
        facts.update(extra)
    return facts


class QueueFacts:
    """Queue statistics for the teams a rule set names, cached while the queues and the clock (to a tenth of a
    second) stay the same: every visitor message asks, queues change far less often."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._key: tuple[int, int, int] | None = None
        self._facts: dict[str, Any] = {}

    def __call__(self, ruleset: RuleSet, now: dt.datetime) -> dict[str, Any]:
        key = (id(ruleset), self.dispatcher.version, int(now.timestamp() * 10))
        if key != self._key:
            self._facts, self._key = self._compute(ruleset, now), key
        return self._facts

    def _compute(self, ruleset: RuleSet, now: dt.datetime) -> dict[str, Any]:
        params = ruleset.field_params
        teams = set().union(*(params.get(f, frozenset()) for f in ruleset.fields_used if f.startswith("queue.")))
        length, oldest, online, free = {}, {}, {}, {}
        for team in teams:
            length[team], oldest[team] = self.dispatcher.queue_stats(team, now)
            agents = self.dispatcher.online_agents(team)
            online[team] = len(agents)
            free[team] = sum(max(a.free, 0) for a in agents)
        return {"queue.length": length, "queue.oldest_wait": oldest, "queue.online_agents": online,
                "queue.free_capacity": free}
