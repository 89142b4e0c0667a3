"""The ticket plugin in a real host: agent actions on a socket, signed ticket.changed events, a rule field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kefu_host.keys import CHAT
from kefu_host.testing.events import envelope
from kefu_host.testing.pytest_plugin import KefuApp
from tests.plugins.conftest import admin, call, load_plugin_package, plugin_path

TICKET = plugin_path("ticket")


async def test_an_agent_opens_lists_and_updates_tickets_of_the_customer(
    kefu_app: KefuApp
) -> None:
    host = await kefu_app(plugins=[(TICKET, {})])
    agent, _, cid = await host.chatting("u-1")

    created = await call(agent, "ticket.create", {"subject": "parcel lost", "body": "order 77"}, cid)
    assert created["ok"] is True, created
    ticket = created["result"]
    assert (ticket["uid"], ticket["conversation_id"], ticket["status"], ticket["subject"]) == (
        "u-1",
        cid,
        "open",
        "parcel lost",
    )
    assert ticket["customer_id"] == host.app[CHAT].service.live[cid].customer_id
    second = (await call(agent, "ticket.create", {"subject": "invoice"}, cid))["result"]

    listed = (await call(agent, "ticket.list", {}, cid))["result"]
    assert [t["id"] for t in listed["tickets"]] == [second["id"], ticket["id"]]  # newest first
    assert listed["open_count"] == 2

    updated = (
        await call(
            agent, "ticket.update", {"ticket_id": ticket["id"], "status": "solved", "note": "found it"}, cid
        )
    )["result"]
    assert (updated["ticket"]["status"], updated["changed"]) == ("solved", True)
    again = (await call(agent, "ticket.update", {"ticket_id": ticket["id"], "status": "solved"}, cid))[
        "result"
    ]
    assert again["changed"] is False
    assert (await call(agent, "ticket.list", {"status": "open"}, cid))["result"]["open_count"] == 1

    # the plugin keeps its own SQLite file next to the host's config, as the default dsn says
    assert (host.config.base_dir / "data" / "tickets.db").is_file()

    response = await host.client.get(f"/plugins/ticket/tickets/{ticket['id']}", headers=admin())
    assert response.status == 200
    history = (await response.json())["history"]
    assert [(h["from"], h["to"], h["actor"], h["note"]) for h in history] == [
        (None, "open", "agent:alice", None),
        ("open", "solved", "agent:alice", "found it"),
    ]


async def test_actions_refuse_what_they_cannot_do(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(TICKET, {})])
    agent, _, cid = await host.chatting("u-2")
    no_conv = await call(agent, "ticket.create", {"subject": "x"})
    assert no_conv["error"]["code"] == "no_conversation"
    blank = await call(agent, "ticket.create", {"subject": "   "}, cid)
    assert blank["error"] == {"code": "bad_args", "message": "subject: must not be blank"}
    missing = await call(agent, "ticket.update", {"ticket_id": 999, "status": "closed"}, cid)
    assert missing["error"] == {"code": "not_found", "message": "no ticket 999"}
    bad_status = await call(agent, "ticket.update", {"ticket_id": 1, "status": "lost"}, cid)
    assert bad_status["error"]["code"] == "bad_args"
    assert (await host.plugin_record("ticket"))["errors"] == {}


async def test_the_tickets_route_wants_the_admin_token(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(TICKET, {})])
    agent, _, cid = await host.chatting("u-3")
    await call(agent, "ticket.create", {"subject": "refund"}, cid)
    assert (await host.client.get("/plugins/ticket/tickets?uid=u-3")).status == 401
    wrong = await host.client.get("/plugins/ticket/tickets?uid=u-3", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await host.client.get("/plugins/ticket/tickets", headers=admin())).status == 400
    response = await host.client.get("/plugins/ticket/tickets?uid=u-3", headers=admin())
    assert response.status == 200
    body = await response.json()
    assert [t["subject"] for t in body["tickets"]] == ["refund"]
    other = await (await host.client.get("/plugins/ticket/tickets?uid=u-nobody", headers=admin())).json()
    assert other["tickets"] == []
    assert (await host.client.get("/plugins/ticket/tickets/12345", headers=admin())).status == 404
    for bad in ("9" * 5000, str(2**31), "²", "0", "-1", "1.5"):  # no ticket number: the host's 400 naming the id
        response = await host.client.get(f"/plugins/ticket/tickets/{bad}", headers=admin())
        assert response.status == 400 and (await response.json())["error"]["field"] == "id"


async def test_the_ticket_system_pushes_status_changes_as_signed_events(
    kefu_app: KefuApp,
) -> None:
    host = await kefu_app(plugins=[(TICKET, {})])
    agent, _, cid = await host.chatting("u-4")
    ours = (await call(agent, "ticket.create", {"subject": "broken screen"}, cid))["result"]
    t0 = datetime.now(UTC)

    # a change to our ticket, which also links the external system's id to it
    linked = envelope(
        "ticket.changed",
        {"uid": "u-4", "ticket_id": str(ours["id"]), "external_id": "ZD-1", "status": "pending"},
        occurred_at=t0 + timedelta(seconds=1),
    )
    assert (await host.post(linked)).status == 200
    assert (await host.post(linked)).status == 200  # a redelivery: the host drops it, no second history entry
    # the external system names it by its own id from now on
    await host.send(
        "ticket.changed",
        {"uid": "u-4", "external_id": "ZD-1", "status": "solved"},
        occurred_at=t0 + timedelta(seconds=3),
    )
    # a change that happened before the last one arrives late: it must not win
    await host.send(
        "ticket.changed",
        {"uid": "u-4", "ticket_id": ours["id"], "status": "open"},
        occurred_at=t0 + timedelta(seconds=2),
    )
    # a ticket the external system opened itself appears for the agent
    await host.send(
        "ticket.changed",
        {"uid": "u-4", "external_id": "ZD-2", "status": "open", "subject": "called about warranty"},
    )
    # another customer's uid cannot touch this ticket
    await host.send("ticket.changed", {"uid": "u-other", "ticket_id": ours["id"], "status": "closed"})

    listed = (await call(agent, "ticket.list", {}, cid))["result"]
    by_subject = {t["subject"]: t for t in listed["tickets"]}
    assert by_subject["broken screen"]["status"] == "solved"
    assert by_subject["broken screen"]["external_id"] == "ZD-1"
    assert by_subject["called about warranty"]["external_id"] == "ZD-2"
    assert by_subject["called about warranty"]["status"] == "open"
    assert listed["open_count"] == 1

    response = await host.client.get(f"/plugins/ticket/tickets/{ours['id']}", headers=admin())
    history = (await response.json())["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "open"),
        ("open", "pending"),
        ("pending", "solved"),
    ]
    assert history[1]["actor"] == f"event:shop/{linked['id']}"


async def test_a_ticket_keeps_the_transcript_and_its_status_changes_reach_the_visitor(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(TICKET, {})])
    agent, visitor, cid = await host.chatting("u-5")
    await visitor.say("the parcel never came")
    await agent.say(cid, "sorry, opening a ticket")
    await agent.note(cid, "customer sounds upset")  # private: never in the ticket
    ticket = (await call(agent, "ticket.create", {"subject": "parcel lost"}, cid))["result"]
    assert ticket["transcript_messages"] == 3
    shown = await (await host.client.get(f"/plugins/ticket/tickets/{ticket['id']}", headers=admin())).json()
    assert [(m["sender"], m["body"]) for m in shown["transcript"]] == [
        ("visitor", "hello"),
        ("visitor", "the parcel never came"),
        ("agent", "sorry, opening a ticket"),
    ]
    bare = (await call(agent, "ticket.create", {"subject": "no chat", "transcript": False}, cid))["result"]
    assert bare["transcript_messages"] is None

    changed = envelope("ticket.changed", {"uid": "u-5", "ticket_id": ticket["id"], "status": "pending"})
    assert (await host.post(changed)).status == 200
    notice = await visitor.expect("message", sender="system")
    assert (notice["sender_id"], notice["body"]) == ("ticket", f"Ticket #{ticket['id']} (parcel lost) is now pending.")
    assert (await agent.expect("message", sender="system"))["seq"] == notice["seq"]  # the agent sees it too
    live = await visitor.expect("ticket.status_changed")  # and the visitor's pages get the change as a frame
    assert (live["plugin"], live["conversation_id"]) == ("ticket", cid)
    assert live["data"] == {"ticket_id": ticket["id"], "subject": "parcel lost", "status": "pending"}

    # the agent solves it: one notice; setting the same status again changes nothing and says nothing
    await call(agent, "ticket.update", {"ticket_id": ticket["id"], "status": "solved"}, cid)
    await call(agent, "ticket.update", {"ticket_id": ticket["id"], "status": "solved"}, cid)
    solved = await visitor.expect("message", sender="system")
    assert solved["body"].endswith("is now solved.") and solved["seq"] == notice["seq"] + 1
    messages = await (await host.client.get(f"/api/conversations/{cid}/messages", headers=admin())).json()
    assert [m["body"] for m in messages["messages"] if m["sender"] == "system"] == [notice["body"], solved["body"]]


async def test_visitors_are_not_told_when_notify_visitor_is_off(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(TICKET, {"notify_visitor": False})])
    agent, visitor, cid = await host.chatting("u-6")
    ticket = (await call(agent, "ticket.create", {"subject": "quiet"}, cid))["result"]
    await call(agent, "ticket.update", {"ticket_id": ticket["id"], "status": "solved"}, cid)
    await agent.say(cid, "done")
    assert (await visitor.expect("message"))["body"] == "done"  # the next message, with no notice before it


async def test_ticket_changed_events_are_validated(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(TICKET, {})])
    no_ticket = await host.post(envelope("ticket.changed", {"uid": "u-5", "status": "open"}))
    assert no_ticket.status == 422
    bad_status = await host.post(envelope("ticket.changed", {"uid": "u-5", "ticket_id": 1, "status": "lost"}))
    assert bad_status.status == 422
    assert (await bad_status.json())["error"]["field"] == "data.status"
    too_big = await host.post(
        envelope("ticket.changed", {"uid": "u-5", "ticket_id": "9" * 12, "status": "open"})
    )
    assert too_big.status == 422
    assert (await host.plugin_record("ticket"))["errors"] == {}


ROUTING = """
group routing match first
rule tickets.many_open priority 600 in group routing
  desc "customers with several open tickets go to the VIP desk"
  when ticket.open_count >= 2
  then assign_team "vip"
end
rule default.support priority -1000 in group routing
  when true
  then assign_team "support"
end
"""


async def test_a_rule_routes_customers_with_many_open_tickets(kefu_app: KefuApp) -> None:
    host = await kefu_app(plugins=[(TICKET, {"facts_ttl": 60})], rules=ROUTING)
    vip = await host.agent(await host.add_agent("vera", teams=("vip",)))
    for n in (1, 2):
        await host.send("ticket.changed", {"uid": "u-many", "external_id": f"EXT-{n}", "status": "open"})
    visitor = await host.identified_visitor("u-many")
    cid = (await visitor.say("still waiting"))["conversation_id"]
    assigned = await vip.expect("assigned")
    assert (assigned["conversation"]["id"], assigned["conversation"]["team"]) == (cid, "vip")

    # one open ticket is not enough; a second one arriving while the customer waits moves the conversation,
    # although counts are cached for a minute: the plugin's own write refreshes them
    other = await host.identified_visitor("u-few")
    await host.send("ticket.changed", {"uid": "u-few", "external_id": "EXT-3", "status": "pending"})
    other_cid = (await other.say("hello?"))["conversation_id"]
    assert (await other.expect("queue"))["team"] == "support"
    await host.send("ticket.changed", {"uid": "u-few", "external_id": "EXT-4", "status": "open"})
    moved = await vip.expect("assigned")
    assert (moved["conversation"]["id"], moved["conversation"]["team"]) == (other_cid, "vip")
    decisions = await host.app[CHAT].service.repo.decisions(other_cid)
    assert (decisions[0]["trigger"], decisions[0]["fired"]) == ("event", ["tickets.many_open"])


def load_ticket_module() -> Any:
    return load_plugin_package("ticket")


@pytest.mark.parametrize(
    ("go_dsn", "url"),
    [
        ("user:pass@tcp(127.0.0.1:3306)/db", "mysql+aiomysql://user:pass@127.0.0.1:3306/db"),
        (
            "root@tcp(db.internal)/tickets?charset=utf8mb4&parseTime=True&loc=Local",
            "mysql+aiomysql://root@db.internal:3306/tickets?charset=utf8mb4",
        ),
        ("kefu:p@ss:w/rd@tcp(10.0.0.5:3307)/kf", "mysql+aiomysql://kefu:p%40ss%3Aw%2Frd@10.0.0.5:3307/kf"),
        (
            "u:p@unix(/run/mysqld/mysqld.sock)/db",
            "mysql+aiomysql://u:p@localhost:3306/db?unix_socket=%2Frun%2Fmysqld%2Fmysqld.sock",
        ),
        ("u@/db", "mysql+aiomysql://u@127.0.0.1:3306/db"),
    ],
)
def test_the_articles_go_mysql_dsn_becomes_a_sqlalchemy_url(go_dsn: str, url: str) -> None:
    module = load_ticket_module()
    plugin = module.kefu_plugin({"mysql": {"dsn": go_dsn}})
    assert plugin.settings.dsn == url


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dsn": "sqlite:///t.db"}, "dsn: driver 'sqlite' is not supported"),
        ({"dsn": "not a url"}, "dsn: not a database URL"),
        ({"dns": "sqlite+aiosqlite:///t.db"}, "unknown setting 'dns', did you mean 'dsn'?"),
        ({"dsn": "sqlite+aiosqlite:///a.db", "mysql": {"dsn": "u@/db"}}, "give either 'dsn' or 'mysql.dsn'"),
        ({"mysql": "u@/db"}, "mysql: expected a table"),
        ({"mysql": {"dsn": "u:secret@tcp(h:x)/db"}}, "mysql.dsn: port 'x' is not a number"),
        ({"mysql": {"dsn": "u:secret@tpc(h)/db"}}, "mysql.dsn: expected tcp(host:port) or unix(/path)"),
        ({"facts_ttl": -1}, "facts_ttl: expected a number of seconds >= 0"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")
    ):
        load_ticket_module().kefu_plugin(settings)


async def test_the_host_refuses_the_plugin_with_bad_settings_and_keeps_serving(
    kefu_app: KefuApp,
) -> None:
    host = await kefu_app(plugins=[(TICKET, {"dsn": "sqlite:///t.db"})])
    record = await host.plugin_record("ticket")
    assert record["status"] == "failed"
    assert record["reason"].startswith("ValueError: dsn: driver 'sqlite' is not supported")
    assert (await host.client.get("/readyz")).status == 200


async def test_a_database_that_is_down_gives_a_clean_error(
    kefu_app: KefuApp, closed_port: int
) -> None:
    host = await kefu_app(
        plugins=[(TICKET, {"mysql": {"dsn": f"kefu:pw@tcp(127.0.0.1:{closed_port})/db"}})]
    )
    assert (await host.client.get("/readyz")).status == 200  # the host serves without the ticket database
    record = await host.plugin_record("ticket")
    assert record["status"] == "loaded" and record["errors"] == {"kefu_startup": 1}
    agent, _, cid = await host.chatting("u-6")
    result = await call(agent, "ticket.create", {"subject": "x"}, cid)
    assert result["error"] == {
        "code": "tickets_unavailable",
        "message": "the ticket database is not reachable; try again",
    }
    assert "pw" not in (await host.plugin_record("ticket"))["last_error"]


async def exercise_a_server_database(host: Any, uid: str) -> None:
    """Create, list, and order status changes a tenth of a second apart on a database server."""
    agent, _, cid = await host.chatting(uid)
    created = (await call(agent, "ticket.create", {"subject": "退货 (return)", "body": "快递丢失"}, cid))[
        "result"
    ]
    assert created["subject"] == "退货 (return)"
    base = datetime.now(UTC)
    # sub-second ordering survives the round trip (MySQL needs DATETIME(6) for it)
    await host.send(
        "ticket.changed",
        {"uid": uid, "ticket_id": created["id"], "status": "solved"},
        occurred_at=base + timedelta(milliseconds=200),
    )
    await host.send(
        "ticket.changed",
        {"uid": uid, "ticket_id": created["id"], "status": "pending"},
        occurred_at=base + timedelta(milliseconds=100),
    )
    listed = (await call(agent, "ticket.list", {}, cid))["result"]
    assert [(t["subject"], t["status"], t["body"]) for t in listed["tickets"]] == [
        ("退货 (return)", "solved", "快递丢失")
    ]
    assert (await host.plugin_record("ticket"))["errors"] == {}


async def test_tickets_on_mariadb_from_the_articles_dsn(
    kefu_app: KefuApp, mariadb_url: str
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(mariadb_url)
    go_dsn = (
        f"{url.username}{':' + url.password if url.password else ''}@tcp({url.host}:{url.port or 3306})/"
        f"{url.database}?charset=utf8mb4&parseTime=True"
    )
    host = await kefu_app(plugins=[(TICKET, {"mysql": {"dsn": go_dsn}})])
    await exercise_a_server_database(host, "u-maria")

    import pymysql

    conn = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT subject, status FROM kefu_tickets")
            assert cursor.fetchall() == (("退货 (return)", "solved"),)
            cursor.execute("SELECT to_status FROM kefu_ticket_changes ORDER BY id")
            assert [r[0] for r in cursor.fetchall()] == ["open", "solved"]
    finally:
        conn.close()


async def test_tickets_on_postgresql(kefu_app: KefuApp, pg_url: str) -> None:
    host = await kefu_app(plugins=[(TICKET, {"dsn": pg_url})])
    await exercise_a_server_database(host, "u-pg")
