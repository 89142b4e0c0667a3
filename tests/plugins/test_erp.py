"""The ERP plugin in a real host, against its bundled simulator of the ERP contract in plugins/erp/README.md."""

from __future__ import annotations

from typing import Any

import pytest

from kefu_host.testing.pytest_plugin import KefuApp
from plugins.erp.simulator import ErpSimulator
from tests.plugins.conftest import call, load_plugin_package, plugin_path

ERP = plugin_path("erp")
TOKEN = "erp-secret-token"


@pytest.fixture
async def erp(aiohttp_server: Any) -> Any:
    sim = ErpSimulator(
        token=TOKEN,
        stock={
            "A1": {
                "available": 12,
                "warehouses": [{"code": "SH", "available": 8}, {"code": "BJ", "available": 4}],
            },
            "红色/XL": {"available": 0},
        },
        orders={
            "O-1": {
                "order_id": "O-1",
                "uid": "u-erp",
                "status": "shipped",
                "total": "99.00",
                "currency": "CNY",
                "items": [{"sku": "A1", "name": "kettle", "quantity": 1}],
                "created_at": "2026-11-20T10:00:00Z",
            },
            "O-2": {
                "order_id": "O-2",
                "uid": "u-erp",
                "status": "paid",
                "total": "15.50",
                "currency": "CNY",
                "items": [],
                "created_at": "2026-11-25T10:00:00Z",
            },
            "O-3": {
                "order_id": "O-3",
                "uid": "u-else",
                "status": "paid",
                "total": "1.00",
                "currency": "CNY",
                "items": [],
                "created_at": "2026-11-25T11:00:00Z",
            },
        },
    )
    server = await aiohttp_server(sim.app(), host="127.0.0.1")
    sim.base_url = f"http://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    yield sim
    sim.release.set()


async def test_an_agent_looks_up_stock_and_orders_like_local_calls(
    kefu_app: KefuApp, erp: Any
) -> None:
    host = await kefu_app(plugins=[(ERP, {"base_url": erp.base_url, "token": TOKEN})])
    agent, _, cid = await host.chatting("u-erp")

    stock = await call(agent, "erp.inventory", {"sku": "A1"}, cid)
    assert stock == {
        "type": "action_result",
        "ref": stock["ref"],
        "ok": True,
        "result": {
            "sku": "A1",
            "available": 12,
            "warehouses": [{"code": "SH", "available": 8}, {"code": "BJ", "available": 4}],
        },
    }
    # an SKU with a slash and Chinese characters stays one path segment
    assert (await call(agent, "erp.inventory", {"sku": "红色/XL"}))["result"]["available"] == 0

    order = (await call(agent, "erp.order", {"order_id": "O-1"}, cid))["result"]
    assert (order["status"], order["items"][0]["name"]) == ("shipped", "kettle")

    # without a uid the conversation's customer is asked for, newest first
    mine = (await call(agent, "erp.orders", {}, cid))["result"]
    assert mine["uid"] == "u-erp" and [o["order_id"] for o in mine["orders"]] == ["O-2", "O-1"]
    other = (await call(agent, "erp.orders", {"uid": "u-else", "limit": 1}))["result"]
    assert [o["order_id"] for o in other["orders"]] == ["O-3"]

    assert all(auth == f"Bearer {TOKEN}" for _, auth, _ in erp.seen)
    assert "/v1/orders?uid=u-erp&limit=10" in [path for path, _, _ in erp.seen]
    # one session for the plugin's life: the calls reuse one kept-alive connection
    assert len({port for _, _, port in erp.seen}) == 1


async def test_erp_failures_come_back_as_clean_errors(kefu_app: KefuApp, erp: Any) -> None:
    host = await kefu_app(plugins=[(ERP, {"base_url": erp.base_url, "token": TOKEN, "timeout": 0.5})])
    agent, _, cid = await host.chatting("u-erp")

    async def error(sku: str) -> dict[str, Any]:
        result = await call(agent, "erp.inventory", {"sku": sku}, cid)
        assert result["ok"] is False
        return dict(result["error"])

    assert await error("NOPE") == {"code": "not_found", "message": "unknown SKU NOPE"}
    assert await error("BOOM") == {
        "code": "erp_unavailable",
        "message": "the ERP answered HTTP 503; try again",
    }
    assert (await error("HTML"))["code"] == "erp_unavailable"
    assert (await error("BAD-SHAPE"))[
        "message"
    ] == "the ERP's answer has no valid 'available'; tell an administrator"
    assert await error("BAD-REQ") == {"code": "erp_error", "message": "SKU format is XX-000"}
    assert await error("SLOW") == {"code": "erp_unavailable", "message": "the ERP did not answer within 0.5s"}
    assert (await call(agent, "erp.order", {"order_id": "O-404"}, cid))["error"]["code"] == "not_found"

    # nothing of it is a plugin failure, and chat goes on
    record = await host.plugin_record("erp")
    assert (record["errors"], record["timeouts"]) == ({}, {})
    assert (await agent.say(cid, "checking with the warehouse"))["seq"] == 2


async def test_a_wrong_token_is_an_administrators_problem(kefu_app: KefuApp, erp: Any) -> None:
    host = await kefu_app(plugins=[(ERP, {"base_url": erp.base_url, "token": "stale"})])
    agent, _, cid = await host.chatting("u-erp")
    refused = (await call(agent, "erp.inventory", {"sku": "A1"}, cid))["error"]
    assert refused == {
        "code": "erp_unavailable",
        "message": "the ERP refused the plugin's credentials (HTTP 401); tell an administrator",
    }
    assert erp.seen[-1][1] == "Bearer stale"


async def test_an_erp_that_is_not_running_answers_unavailable(
    kefu_app: KefuApp, closed_port: int
) -> None:
    host = await kefu_app(plugins=[(ERP, {"base_url": f"http://127.0.0.1:{closed_port}"})])
    agent, _, cid = await host.chatting("u-erp")
    for action, args in (
        ("erp.inventory", {"sku": "A1"}),
        ("erp.order", {"order_id": "O-1"}),
        ("erp.orders", {}),
    ):
        assert (await call(agent, action, args, cid))["error"] == {
            "code": "erp_unavailable",
            "message": "the ERP cannot be reached right now",
        }
    assert (await host.plugin_record("erp"))["errors"] == {}


async def test_orders_need_a_customer_with_a_uid(kefu_app: KefuApp, erp: Any) -> None:
    host = await kefu_app(plugins=[(ERP, {"base_url": erp.base_url, "token": TOKEN})])
    agent = await host.agent(await host.add_agent("alice"))
    anonymous = await host.visitor()
    cid = (await anonymous.say("where is my order?"))["conversation_id"]
    await agent.expect("assigned")
    assert (await call(agent, "erp.orders", {}, cid))["error"]["code"] == "no_customer"
    assert (await call(agent, "erp.orders", {}))["error"]["code"] == "no_customer"
    assert (await call(agent, "erp.orders", {"limit": 500}, cid))["error"]["code"] == "bad_args"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"base_url": "ftp://erp"}, "base_url: expected an http(s) URL"),
        ({"base_url": 8090}, "base_url: expected an http(s) URL"),
        ({"timeout": 0}, "timeout: expected seconds between 0 and 300, got 0"),
        ({"timeout": "3"}, "timeout: expected seconds between 0 and 300, got '3'"),
        ({"token": 42}, "token: expected a string"),
        ({"tokn": "x"}, "unknown setting 'tokn', did you mean 'token'?"),
        ({"simulator": "yes"}, "simulator: expected true or false, got 'yes'"),
        (
            {"simulator": True, "base_url": "http://erp.example.com"},
            "base_url: the ERP simulator (simulator = true) listens only on a loopback http address",
        ),
        ({"simulator": True, "base_url": "https://127.0.0.1:8090"}, "base_url: the ERP simulator"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_plugin_package("erp").kefu_plugin(settings)
    assert str(info.value).startswith(message)


async def test_an_id_that_a_url_would_resolve_as_a_path_step_is_refused(
    kefu_app: KefuApp, erp: Any
) -> None:
    host = await kefu_app(plugins=[(ERP, {"base_url": erp.base_url, "token": TOKEN})])
    agent, _, cid = await host.chatting("u-erp")
    for action, args in (("erp.inventory", {"sku": ".."}), ("erp.order", {"order_id": "."}), ("erp.orders", {"uid": ".."})):
        result = await call(agent, action, args, cid)
        assert not result["ok"] and result["error"]["code"] == "bad_args", result
    assert erp.seen == []  # nothing went to the ERP, least of all GET /v1/
