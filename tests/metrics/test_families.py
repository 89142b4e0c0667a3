"""The series on /metrics move with what happens: messages, assignments, queues, events, reloads, hook failures,
webhook deliveries and the group commit. Real app, real sockets, the text format parsed as Prometheus does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kefu_host.testing.events import envelope
from tests.chat.test_delivery import COUNT, RawSocket, _send_many
from tests.conftest import admin_headers
from tests.metrics.conftest import scrape
from tests.test_plugins import write_plugin
from tests.webhooks.conftest import SECRET as HOOK_SECRET
from tests.webhooks.conftest import Receiver, webhooks_toml


async def test_a_conversation_moves_the_chat_series(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    before = await scrape(host.client)
    assert before.value("kefu_websocket_connections", kind="visitor") == 0
    assert before.value("kefu_conversations", status="queued") == 0

    agent = await host.agent(await host.add_agent("ann", capacity=1))
    visitor = await host.visitor()
    cid = (await visitor.say("hello"))["conversation_id"]
    await agent.expect("assigned", timeout=10)
    await agent.say(cid, "hi, how can I help?")
    await visitor.expect("message", sender="agent")
    # a second visitor finds ann full: they wait in the queue
    other = await host.visitor()
    await other.say("anyone there?")
    await other.expect("queue")

    now = await scrape(host.client)
    assert now.value("kefu_chat_messages_stored_total", sender="visitor") == 2
    assert now.value("kefu_chat_messages_stored_total", sender="agent") == 1
    # the visitor's message reached the agent, the agent's the visitor (each sender gets an ack instead)
    assert now.value("kefu_chat_messages_delivered_total", kind="agent") >= 1
    assert now.value("kefu_chat_messages_delivered_total", kind="visitor") >= 1
    assert now.value("kefu_websocket_connections", kind="visitor") == 2
    assert now.value("kefu_websocket_connections", kind="agent") == 1
    assert now.value("kefu_websocket_connections_opened_total", kind="visitor") == 2
    assert now.value("kefu_conversations", status="assigned") == 1
    assert now.value("kefu_conversations", status="queued") == 1
    assert now.value("kefu_queue_length", team="support") == 1
    assert now.value("kefu_queue_length", team="vip") == 0
    assert now.value("kefu_queue_oldest_wait_seconds", team="support") >= 0
    assert now.value("kefu_agents_online", team="support") == 1
    assert now.value("kefu_chat_assignments_total", team="support") == 1
    assert now.value("kefu_chat_queue_wait_seconds_count") == 1
    assert now.value("kefu_chat_first_reply_seconds_count") == 1
    assert now.value("kefu_routing_decisions_total", trigger="open") == 2
    assert now.value("kefu_store_batch_size_count") > before.value("kefu_store_batch_size_count")
    assert now.value("kefu_store_commit_seconds_count") == now.value("kefu_store_batch_size_count")

    # a second agent reply is no first reply; closing the socket takes it off the gauge
    await agent.say(cid, "anything else?")
    await visitor.expect("message", sender="agent")
    await other.close()
    after = await scrape(host.client)
    assert after.value("kefu_chat_first_reply_seconds_count") == 1
    assert after.value("kefu_chat_messages_stored_total", sender="agent") == 2
    assert after.value("kefu_websocket_connections", kind="visitor") == 1


async def test_events_are_counted_by_type_outcome_and_refusal(start_host: Callable[..., Any]) -> None:
    host = await start_host()
    event = envelope("user.profile_updated", {"uid": "u-1", "name": "Wang"})
    await host.send("user.profile_updated", {"uid": "u-1", "name": "Wang"}, event_id=event["id"])
    assert (await host.post(event)).status == 200  # the same id again: a duplicate
    assert (await host.post(event, secret="whsec_not-the-secret")).status == 401
    assert (await host.post({"id": "x", "type": "no.such_type", "occurred_at": event["occurred_at"],
                             "data": {}})).status == 422
    s = await scrape(host.client)
    assert s.value("kefu_events_total", type="user.profile_updated", outcome="accepted") == 1
    assert s.value("kefu_events_total", type="user.profile_updated", outcome="duplicate") == 1
    assert s.value("kefu_events_refused_total", reason="bad_signature") == 1
    assert s.value("kefu_events_refused_total", reason="invalid_event") == 1


ROUTING = """
rule default.support priority -1000
  when true
  then assign_team "support"
end
"""


async def test_rule_reloads_and_decisions_are_counted(tmp_path: Path, start_host: Callable[..., Any]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "routing.rule").write_text(ROUTING, encoding="utf-8")
    # reloads only when asked: a file watcher could pick up the broken file first
    host = await start_host(environ={"KEFU_RULES__WATCH": "false", "KEFU_RULES__RESCAN_INTERVAL": "0"})
    first = await scrape(host.client)
    assert first.value("kefu_rules_reloads_total", result="success") == 1  # the load at startup
    revision = next(dict(labels)["revision"] for (name, labels) in first.samples if name == "kefu_rules_info")
    assert first.value("kefu_rules_active") == 1

    (rules / "broken.rule").write_text("rule broken priority 1\n  when customer.ltvv > 1\n  then tag \"x\"\nend\n",
                                       encoding="utf-8")
    assert (await host.client.post("/api/rules/reload", headers=admin_headers())).status == 422
    failed = await scrape(host.client)
    assert failed.value("kefu_rules_reloads_total", result="failure") == 1
    assert failed.value("kefu_rules_info", revision=revision) == 1  # the last good set stays
    assert failed.value("kefu_rules_last_failure_timestamp_seconds") > 0

    (rules / "broken.rule").unlink()
    (rules / "vip.rule").write_text('rule vip.tag priority 5\n  when true\n  then tag "seen"\nend\n', encoding="utf-8")
    assert (await host.client.post("/api/rules/reload", headers=admin_headers())).status == 200
    visitor = await host.visitor()
    await visitor.say("hello")
    ok = await scrape(host.client)
    assert ok.value("kefu_rules_reloads_total", result="success") == 2
    assert ok.value("kefu_rules_info", revision=revision) == 0
    assert ok.value("kefu_rules_active") == 2
    assert ok.value("kefu_rule_decisions_total", rule="default.support") == 1
    assert ok.value("kefu_rule_decisions_total", rule="vip.tag") == 1


FAILING_PLUGIN = """
from kefu_host import hookimpl

@hookimpl
async def kefu_message_received(conversation, message):
    if message.body == "boom":
        raise RuntimeError("this plugin breaks on boom")
"""


async def test_hook_calls_and_failures_are_counted_per_plugin_and_hook(
    tmp_path: Path, start_host: Callable[..., Any]
) -> None:
    (tmp_path / "plugins").mkdir()
    path = write_plugin(tmp_path / "plugins", "brittle", FAILING_PLUGIN)
    host = await start_host(plugins=[(str(path), {})])
    visitor = await host.visitor()
    await visitor.say("fine")
    await visitor.say("boom")
    s = await scrape(host.client)
    assert s.value("kefu_hook_calls_total", plugin="brittle", hook="kefu_message_received") == 2
    assert s.value("kefu_hook_failures_total", plugin="brittle", hook="kefu_message_received") == 1
    assert s.value("kefu_hook_timeouts_total", plugin="brittle", hook="kefu_message_received") == 0
    assert s.value("kefu_hook_duration_seconds_count", plugin="brittle", hook="kefu_message_received") == 2


async def test_webhook_deliveries_and_dead_letters_are_counted(
    start_host: Callable[..., Any], receivers: Callable[..., Awaitable[Receiver]]
) -> None:
    good, bad = await receivers(), await receivers()
    bad.default = 500
    host = await start_host(webhooks_toml({"crm": (good.url, HOOK_SECRET, ["conversation.created"]),
                                           "flaky": (bad.url, HOOK_SECRET, ["conversation.created"])},
                                          max_attempts=2))
    visitor = await host.visitor()
    await visitor.say("hello")
    await good.wait_for(1)
    await bad.wait_for(2)
    s = await _scrape_until(host, lambda s: s.value("kefu_webhook_dead_letters_total", endpoint="flaky") == 1)
    assert s.value("kefu_webhook_deliveries_total", endpoint="crm", result="delivered") == 1
    assert s.value("kefu_webhook_deliveries_total", endpoint="flaky", result="retry") == 1
    assert s.value("kefu_webhook_deliveries_total", endpoint="flaky", result="dead") == 1


async def _scrape_until(host: Any, done: Callable[[Any], bool], attempts: int = 200) -> Any:
    """Scrape until ``done`` holds: the outcome of a send is recorded just after the receiver answers."""
    for _ in range(attempts):
        s = await scrape(host.client)
        if done(s):
            return s
        await asyncio.sleep(0.05)
    raise AssertionError(f"the metrics never got there:\n{s.text}")


async def test_a_slow_socket_closed_with_4008_is_counted(start_host: Callable[..., Any]) -> None:
    host = await start_host(environ={"KEFU_CHAT__SEND_QUEUE_SIZE": "16", "KEFU_SERVER__SOCKET_SEND_BUFFER": "65536"})
    agent = await host.agent(await host.add_agent("chatty"))
    fast = await host.visitor()
    cid = (await fast.say("hi"))["conversation_id"]
    await agent.expect("assigned")
    # a second tab that stops reading (as in tests/chat/test_delivery.py), then more than it can buffer
    slow = await RawSocket.connect(host.client.port, f"/ws/visitor?token={fast.token}")  # type: ignore[attr-defined]
    sender = asyncio.create_task(_send_many(agent, cid, "z" * 7000, COUNT))
    for _ in range(COUNT):
        await fast.expect("message", timeout=20)
    await sender
    _, code = await slow.read_to_close()
    assert code == 4008
    s = await scrape(host.client)
    assert s.value("kefu_websocket_send_queue_closes_total", kind="visitor") == 1
    assert s.value("kefu_websocket_send_queue_closes_total", kind="agent") == 0
    assert s.value("kefu_websocket_connections", kind="visitor") == 1
