"""The router the chat core asks: reads the active rule set once, gathers facts, decides, runs plugin actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from kefu_host.chat.assignment import Dispatcher
from kefu_host.chat.routing import RouteDecision, Trigger
from kefu_host.chat.values import ConversationView, CustomerView, MessageView
from kefu_host.hookcall import Hooks
from kefu_host.metrics import MetricsOff
from kefu_host.routing.catalogue import HostCatalogue
from kefu_host.routing.facts import QueueFacts, customer_facts, gather
from kefu_host.rules import Decision, RuleSet, RuleSetHolder
from kefu_host.rules.explain import Explanation
from kefu_host.tracing import TRACING_OFF

log = structlog.get_logger("kefu_host.rules")


class RulesRouter:
    def __init__(
        self, holder: RuleSetHolder, catalogue: HostCatalogue, hooks: Hooks, dispatcher: Dispatcher, timezone: str,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        #: The rules' idea of now (time.hour, waits); tests give a fake one (kefu_host.testing.clock).
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.holder = holder
        self.catalogue = catalogue
        self.hooks = hooks
        self.queues = QueueFacts(dispatcher)
        self.timezone = ZoneInfo(timezone)
        # customer views are immutable (a change makes a new one), so their facts are worked out once per view
        self._customers: dict[int, tuple[CustomerView, dict[str, Any]]] = {}
        self.metrics = MetricsOff()
        self.tracing = TRACING_OFF

    async def decide(
        self, trigger: Trigger, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> RouteDecision:
        ruleset = self.holder.current  # read once: the whole decision sees one revision
        if ruleset is None:
            return RouteDecision(team=None)
        with self.tracing.child("rules decide", {"kefu.trigger": trigger, "kefu.revision": ruleset.revision}) as span:
            decision = ruleset.decide(await self._facts(ruleset, conversation, customer, message))
            if span is not None:
                span.set_attribute("kefu.rules_fired", list(decision.fired))
            await self._plugin_actions(decision, conversation)
        self.metrics.decided(trigger, decision.fired)
        return route_decision(decision)

    async def explain(
        self, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> Explanation | None:
        """What the active rules would decide now for this conversation, rule by rule, with the facts gathered as
        :meth:`decide` gathers them; nothing is applied and no plugin action runs. None when no set is loaded."""
        ruleset = self.holder.current
        if ruleset is None:
            return None
        return ruleset.explain(await self._facts(ruleset, conversation, customer, message))

    async def _facts(
        self, ruleset: RuleSet, conversation: ConversationView, customer: CustomerView, message: MessageView | None
    ) -> dict[str, Any]:
        extra = await self._plugin_facts(ruleset, conversation, customer)
        return gather(ruleset, conversation, self._customer_facts(customer), message, self.queues, self.timezone,
                      extra, now=self.clock())

    def _customer_facts(self, customer: CustomerView) -> dict[str, Any]:
        cached = self._customers.get(customer.id)
        if cached is not None and cached[0] is customer:
            return cached[1]
        if len(self._customers) > 50_000:  # customers of live conversations; a bound in case that is not true
            self._customers.clear()
        facts = customer_facts(customer)
        self._customers[customer.id] = (customer, facts)
        return facts

    async def _plugin_facts(
        self, ruleset: RuleSet, conversation: ConversationView, customer: CustomerView
    ) -> Mapping[str, Any]:
        owners = {self.catalogue.field_owner[f] for f in ruleset.fields_used if f in self.catalogue.field_owner}
        facts: dict[str, Any] = {}
        for plugin in owners:
            for contribution in await self.hooks.call(
                "kefu_conversation_facts", only=plugin, conversation=conversation, customer=customer
            ):
                for key, value in dict(contribution.value).items():
                    if self.catalogue.field_owner.get(key) == plugin:
                        facts[key] = value
                    else:
                        log.warning("plugin fact for a field it did not declare ignored", plugin=plugin, field=key)
        return facts

    async def _plugin_actions(self, decision: Decision, conversation: ConversationView) -> None:
        for action in decision.plugin_actions:
            plugin = self.catalogue.action_owner.get(action.name)
            if plugin is not None:
                await self.hooks.call(
                    "kefu_rule_action", only=plugin, action=action.name, args=action.args, rule_id=action.rule_id,
                    conversation=conversation,
                )


def route_decision(decision: Decision) -> RouteDecision:
    return RouteDecision(
        team=decision.team,
        priority=decision.priority,
        prefer_agent=decision.prefer_agent,
        transfer=decision.is_transfer,
        tags=decision.tags,
        auto_replies=decision.auto_replies,
        fired=decision.fired,
        revision=decision.revision,
        actions=decision.actions,
        team_rule=decision.team_rule,
    )
