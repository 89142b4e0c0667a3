"""The payments plugin in a real host: payment events, a billing rule, refunds at a simulated provider."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from kefu_host.chat.tokens import identity_hash
from kefu_host.keys import CHAT
from kefu_host.testing.pytest_plugin import KefuApp
from plugins.payments.sandbox import PaymentSandbox
from tests.plugins.conftest import TEAMS, PluginHost, call, load_plugin_package, plugin_path

PAYMENTS = plugin_path("payments")
API_KEY = "sk_test_provider"


@pytest.fixture
async def provider(aiohttp_server: Any) -> Any:
    # the sandbox's own test payments, and the orders these tests refund
    sim = PaymentSandbox(api_key=API_KEY, payments={"O-1": "100", "O-2": "30", "O-3": "20", "O-PAID-5": "5"})
    server = await aiohttp_server(sim.app(), host="127.0.0.1")
    sim.url = f"http://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    yield sim
    sim.gate.set()


def settings(provider: Any, **extra: Any) -> dict[str, Any]:
    return {"provider_url": provider.url, "api_key": API_KEY, **extra}


def expected_key(order_id: str, amount: str, scope: str) -> str:
    """The derivation documented in the plugin's README."""
    return hashlib.sha256(f"{order_id}\x1f{amount}\x1f{scope}".encode()).hexdigest()


async def test_two_identical_refunds_at_once_refund_once(
    kefu_app: KefuApp, provider: Any
) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, settings(provider))])
    agent, _, cid = await host.chatting("u-pay")
    provider.gate.clear()  # hold the first refund at the provider
    args = {"order_id": "O-1", "amount": 12.5, "reason": "damaged"}
    await agent.send(
        {"type": "action", "ref": "a", "action": "payments.refund", "args": args, "conversation_id": cid}
    )
    await asyncio.wait_for(provider.arrived.wait(), 5)
    # the same refund again, with the amount written differently, while the first is still at the provider
    await agent.send(
        {
            "type": "action",
            "ref": "b",
            "action": "payments.refund",
            "args": {**args, "amount": "12.50"},
            "conversation_id": cid,
        }
    )
    await agent.send({"type": "ping"})
    await agent.expect("pong")  # the second frame has been read and its action started
    provider.gate.set()
    first = await agent.expect("action_result", ref="a")
    second = await agent.expect("action_result", ref="b")

    key = expected_key("O-1", "12.5", f"conversation:{cid}")
    assert first["ok"] and second["ok"], (first, second)
    assert first["result"]["refund_id"] == second["result"]["refund_id"] == "re_1"
    assert (first["result"]["duplicate"], second["result"]["duplicate"]) == (False, True)
    assert first["result"]["idempotency_key"] == key
    assert provider.refunds_by_key == Counter({key: 1})
    assert len(provider.requests) == 1  # the repeat was answered from the plugin's own record
    assert provider.requests[0] == {
        "key": key,
        "auth": f"Bearer {API_KEY}",
        "order_id": "O-1",
        "amount": "12.5",
        "reason": "damaged",
    }


async def test_a_refund_whose_answer_was_lost_is_not_made_twice(
    kefu_app: KefuApp, provider: Any
) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, settings(provider, timeout=0.5))])
    agent, _, cid = await host.chatting("u-pay")
    provider.hang_after_refund.add("O-2")
    args = {"order_id": "O-2", "amount": "30", "reason": "late delivery", "request_id": "ticket-9"}
    lost = await call(agent, "payments.refund", args, cid)
    assert lost["error"]["code"] == "payments_unavailable"
    assert "call again with the same arguments" in lost["error"]["message"]

    again = await call(agent, "payments.refund", args, cid)
    assert (
        again["ok"] is True and again["result"]["duplicate"] is True
    )  # the provider replayed its first answer
    key = expected_key("O-2", "30", "request:ticket-9")
    assert provider.refunds_by_key == Counter({key: 1})
    assert [r["key"] for r in provider.requests] == [key, key]
    # from now on the plugin answers from its own record without asking the provider
    third = await call(agent, "payments.refund", args, cid)
    assert third["result"]["refund_id"] == again["result"]["refund_id"]
    assert len(provider.requests) == 2


async def test_different_requests_are_different_refunds(
    kefu_app: KefuApp, provider: Any
) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, settings(provider))])
    agent, _, cid = await host.chatting("u-pay")
    a = await call(
        agent, "payments.refund", {"order_id": "O-3", "amount": 5, "reason": "part 1", "request_id": "r-1"}
    )
    b = await call(
        agent, "payments.refund", {"order_id": "O-3", "amount": 5, "reason": "part 2", "request_id": "r-2"}
    )
    c = await call(agent, "payments.refund", {"order_id": "O-3", "amount": 6, "reason": "other amount"}, cid)
    assert len({a["result"]["refund_id"], b["result"]["refund_id"], c["result"]["refund_id"]}) == 3
    assert sorted(provider.refunds_by_key.values()) == [1, 1, 1]
    no_scope = await call(agent, "payments.refund", {"order_id": "O-3", "amount": 5, "reason": "x"})
    assert no_scope["error"] == {
        "code": "bad_args",
        "message": "request_id: required when the call names no conversation",
    }
    assert (await call(agent, "payments.refund", {"order_id": "O-3", "amount": 0, "reason": "x"}, cid))[
        "error"
    ]["code"] == "bad_args"


async def test_provider_errors_are_clean_action_errors(kefu_app: KefuApp, provider: Any) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, settings(provider))])
    agent, _, cid = await host.chatting("u-pay")

    async def error(order_id: str, amount: str = "10") -> dict[str, Any]:
        result = await call(
            agent, "payments.refund", {"order_id": order_id, "amount": amount, "reason": "r"}, cid
        )
        assert result["ok"] is False, result
        return dict(result["error"])

    assert await error("O-404") == {"code": "not_found", "message": "no order O-404"}
    assert await error("O-PAID-5") == {"code": "refund_rejected", "message": "refund exceeds the 5.00 paid"}
    assert (await call(agent, "payments.refund", {"order_id": "O-PAID-5", "amount": "4", "reason": "r"}, cid))["ok"]
    assert await error("O-PAID-5", "2") == {
        "code": "refund_rejected",
        "message": "refund exceeds the 1.00 left of 5.00 paid",
    }
    assert await error("O-500") == {
        "code": "payments_unavailable",
        "message": "the payment provider answered HTTP 500; try again",
    }
    assert (await host.plugin_record("payments"))["errors"] == {}
    assert provider.refunded == {"O-PAID-5": Decimal("4")}  # only the refund that fitted was made


async def test_a_provider_that_is_not_running_answers_unavailable(
    kefu_app: KefuApp, closed_port: int
) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, {"provider_url": f"http://127.0.0.1:{closed_port}"})])
    agent, _, cid = await host.chatting("u-pay")
    down = await call(agent, "payments.refund", {"order_id": "O-1", "amount": "1", "reason": "r"}, cid)
    assert down["error"] == {
        "code": "payments_unavailable",
        "message": "the payment provider cannot be reached right now",
    }
    assert (await host.plugin_record("payments"))["errors"] == {}


async def test_nothing_is_refunded_while_the_payments_database_is_down(
    kefu_app: KefuApp, provider: Any, closed_port: int
) -> None:
    dsn = f"mysql+aiomysql://kefu:pw@127.0.0.1:{closed_port}/payments"
    host = await kefu_app(plugins=[(PAYMENTS, settings(provider, dsn=dsn))])
    assert (await host.plugin_record("payments"))["errors"] == {"kefu_startup": 1}
    agent, _, cid = await host.chatting("u-pay")
    refused = await call(agent, "payments.refund", {"order_id": "O-1", "amount": "1", "reason": "r"}, cid)
    assert refused["error"] == {
        "code": "payments_unavailable",
        "message": "the payments database is not reachable; nothing was refunded",
    }
    assert provider.requests == []  # no refund the plugin could not record


async def test_a_wrong_api_key_is_an_administrators_problem(
    kefu_app: KefuApp, provider: Any
) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, {"provider_url": provider.url, "api_key": "sk_old"})])
    agent, _, cid = await host.chatting("u-pay")
    refused = await call(agent, "payments.refund", {"order_id": "O-1", "amount": "1", "reason": "r"}, cid)
    assert refused["error"] == {
        "code": "payments_unavailable",
        "message": "the payment provider refused the plugin's API key (HTTP 401); tell an administrator",
    }
    assert provider.requests[0]["auth"] == "Bearer sk_old"


BILLING = """
group routing match first
rule billing.failed_payments priority 700 in group routing
  desc "customers whose payments keep failing go to billing"
  when payment.recent_failures >= 2
  then assign_team "billing"
end
rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


async def failed(host: PluginHost, uid: str, order_id: str, ago: timedelta = timedelta(minutes=5)) -> None:
    await host.send(
        "payment.failed",
        {"uid": uid, "order_id": order_id, "amount": "99.90", "currency": "CNY", "reason": "card_declined"},
        occurred_at=datetime.now(UTC) - ago,
    )


async def test_customers_whose_payments_keep_failing_go_to_billing(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, {"facts_ttl": 60})], rules=BILLING, teams=TEAMS)
    billing = await host.agent(await host.add_agent("bill", teams=("billing",)))

    await failed(host, "u-bad", "O-1")
    await failed(host, "u-bad", "O-2")
    visitor = await host.identified_visitor("u-bad")
    cid = (await visitor.say("my card does not work"))["conversation_id"]
    assigned = await billing.expect("assigned")
    assert (assigned["conversation"]["id"], assigned["conversation"]["team"]) == (cid, "billing")
    listed = (await call(billing, "payments.failures", {}, cid))["result"]
    assert listed["recent_failures"] == 2
    assert [(f["order_id"], f["reason"], f["resolved"]) for f in listed["failures"]] == [
        ("O-2", "card_declined", False),
        ("O-1", "card_declined", False),
    ]

    # a failure followed by a success of the same order, and one from two days ago, do not count
    await failed(host, "u-ok", "O-7", ago=timedelta(minutes=10))
    await host.send(
        "payment.succeeded",
        {"uid": "u-ok", "order_id": "O-7", "amount": 99.9, "currency": "cny"},
        occurred_at=datetime.now(UTC) - timedelta(minutes=9),
    )
    await failed(host, "u-ok", "O-8", ago=timedelta(days=2))
    await failed(host, "u-ok", "O-9")
    other = await host.identified_visitor("u-ok")
    other_cid = (await other.say("hi"))["conversation_id"]
    assert (await other.expect("queue"))["team"] == "support"

    # a second recent failure arrives while the customer waits: the conversation moves to billing at once,
    # although counts are cached for a minute (the plugin's own write refreshes them)
    await failed(host, "u-ok", "O-10")
    moved = await billing.expect("assigned")
    assert (moved["conversation"]["id"], moved["conversation"]["team"]) == (other_cid, "billing")
    summary = (await call(billing, "payments.failures", {"uid": "u-ok"}))["result"]
    assert summary["recent_failures"] == 2
    assert {f["order_id"]: f["resolved"] for f in summary["failures"]} == {
        "O-7": True,
        "O-9": False,
        "O-10": False,
    }


async def test_ltv_comes_from_order_events_only(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, {})])
    await host.send("order.paid", {"uid": "u-ltv", "order_id": "O-1", "amount": "100", "currency": "CNY"})
    await host.send(
        "payment.succeeded", {"uid": "u-ltv", "order_id": "O-1", "amount": "100", "currency": "CNY"}
    )
    await host.send(
        "payment.failed",
        {
            "uid": "u-ltv",
            "order_id": "O-2",
            "amount": "50",
            "currency": "CNY",
            "reason": "insufficient_funds",
        },
    )
    session = await host.visitor_session(
        user_id="u-ltv", user_hash=identity_hash("test-identity-secret", "u-ltv")
    )
    customer = await host.app[CHAT].service.repo.customer(session["customer_id"])
    assert customer.ltv == 100.0


async def test_payment_events_are_validated(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(PAYMENTS, {})])
    missing = await host.post(
        {
            "id": "evt_pf_1",
            "type": "payment.failed",
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": {"uid": "u-1", "order_id": "O-1", "amount": "5", "currency": "CNY"},
        }
    )
    assert missing.status == 422 and (await missing.json())["error"]["code"] == "invalid_event"
    negative = await host.post(
        {
            "id": "evt_pf_2",
            "type": "payment.succeeded",
            "occurred_at": datetime.now(UTC).isoformat(),
            "data": {"uid": "u-1", "order_id": "O-1", "amount": -5, "currency": "CNY"},
        }
    )
    assert negative.status == 422
    for n, huge in enumerate([1e17, 10**12 + 1, "1" * 13]):  # past the documented maximum amount
        response = await host.post(
            {
                "id": f"evt_pf_big_{n}",
                "type": "payment.failed",
                "occurred_at": datetime.now(UTC).isoformat(),
                "data": {"uid": "u-1", "order_id": "O-1", "amount": huge, "currency": "CNY", "reason": "x"},
            }
        )
        assert response.status == 422 and (await response.json())["error"]["field"] == "data.amount"


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"provider_url": "localhost:8091"}, "provider_url: expected an http(s) URL"),
        ({"timeout": -1}, "timeout: expected seconds between 0 and 300"),
        ({"dsn": "postgresql://x/y"}, "dsn: driver 'postgresql' is not supported"),
        ({"api_key": ["k"]}, "api_key: expected a string"),
        ({"apikey": "k"}, "unknown setting 'apikey', did you mean 'api_key'?"),
        (
            {"sandbox": True, "provider_url": "http://10.0.0.5:8091"},
            "provider_url: the payment sandbox (sandbox = true) listens only on a loopback http address",
        ),
    ],
)
def test_bad_settings_name_the_setting(settings_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_plugin_package("payments").kefu_plugin(settings_)
    assert str(info.value).startswith(message)


async def test_old_outcomes_are_pruned_when_the_plugin_starts(
    kefu_app: KefuApp, tmp_path: Any
) -> None:
    import sqlite3

    first = await kefu_app(plugins=[(PAYMENTS, {})], directory=tmp_path / "shop")
    await failed(first, "u-old", "O-1", ago=timedelta(days=8))
    await failed(first, "u-old", "O-2", ago=timedelta(days=3))
    database = tmp_path / "shop" / "data" / "payments.db"

    def orders() -> list[str]:
        with sqlite3.connect(database) as conn:
            return [r[0] for r in conn.execute("SELECT order_id FROM kefu_payment_events ORDER BY order_id")]

    assert orders() == ["O-1", "O-2"]
    await kefu_app(plugins=[(PAYMENTS, {})], directory=tmp_path / "shop")  # the same files: a restart
    assert orders() == ["O-2"]  # older than 7 days: gone; 3 days: kept for late successes
