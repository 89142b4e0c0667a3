"""The ticket plugin's settings, checked before the host registers the plugin.

Two ways to name the database: ``dsn``, a SQLAlchemy async URL, or the Go driver's form the source article
uses, ``{"mysql": {"dsn": "user:pass@tcp(127.0.0.1:3306)/db"}}``, translated to ``mysql+aiomysql://...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.engine import URL

from kefu_host.sdk import check_dsn, flag, reject_unknown, seconds

DEFAULT_DSN = "sqlite+aiosqlite:///data/tickets.db"
KNOWN_SETTINGS = ("dsn", "mysql", "facts_ttl", "notify_visitor")
#: Go driver parameters that mean the same to aiomysql; the others (parseTime, loc, ...) are Go-only.
_KEPT_GO_PARAMS = ("charset",)


@dataclass(frozen=True)
class TicketSettings:
    dsn: str
    #: Seconds an open-ticket count is served from memory before it is read again (other processes may write).
    facts_ttl: float = 5.0
    #: Tell the visitor of the ticket's conversation when its status changes (a system message).
    notify_visitor: bool = True


def parse_settings(raw: Mapping[str, Any]) -> TicketSettings:
    """Validated settings; raises ValueError naming the setting that is wrong."""
    reject_unknown(raw, KNOWN_SETTINGS)
    if "dsn" in raw and "mysql" in raw:
        raise ValueError(
            "give either 'dsn' or 'mysql.dsn', not both (is one in kefu.toml, one on the command line?)"
        )
    if "mysql" in raw:
        mysql = raw["mysql"]
        if not isinstance(mysql, Mapping) or not isinstance(mysql.get("dsn"), str) or not mysql["dsn"]:
            raise ValueError('mysql: expected a table like {"dsn": "user:pass@tcp(127.0.0.1:3306)/db"}')
        unknown = sorted(set(mysql) - {"dsn"})
        if unknown:
            raise ValueError(f"mysql: unknown setting {unknown[0]!r}; only 'dsn' is read")
        dsn = mysql["dsn"] if "://" in mysql["dsn"] else mysql_url_from_go_dsn(mysql["dsn"])
        setting = "mysql.dsn"
    else:
        dsn = raw.get("dsn", DEFAULT_DSN)
        setting = "dsn"
    check_dsn(setting, dsn, DEFAULT_DSN)
    return TicketSettings(
        dsn=dsn, facts_ttl=seconds(raw, "facts_ttl", 5.0), notify_visitor=flag(raw, "notify_visitor", True)
    )


def mysql_url_from_go_dsn(dsn: str) -> str:
    """``user:pass@tcp(host:port)/db?charset=utf8mb4`` (go-sql-driver/mysql) as ``mysql+aiomysql://...``.

    Split like the Go driver does: the database name follows the last ``/``, the credentials precede the last
    ``@`` before it, so a password may contain ``@`` or ``:``.
    """
    slash = dsn.rfind("/")
    if slash < 0:
        raise ValueError(f"mysql.dsn: missing '/dbname' in {_masked(dsn)!r}")
    head, tail = dsn[:slash], dsn[slash + 1 :]
    database, _, params = tail.partition("?")
    at = head.rfind("@")
    userinfo, address = (head[:at], head[at + 1 :]) if at >= 0 else ("", head)
    user, _, password = userinfo.partition(":")
    host, port, query = "127.0.0.1", 3306, {}
    if address:
        net, _, rest = address.partition("(")
        if net not in ("tcp", "unix") or (rest and not rest.endswith(")")):
            raise ValueError(f"mysql.dsn: expected tcp(host:port) or unix(/path) after '@', got {address!r}")
        addr = rest[:-1]
        if net == "unix":
            query["unix_socket"] = addr or "/tmp/mysql.sock"
            host = "localhost"
        elif addr:
            host, _, port_text = addr.rpartition(":") if ":" in addr else (addr, "", "")
            host = host.strip("[]") or "127.0.0.1"
            if port_text:
                if not port_text.isdigit():
                    raise ValueError(f"mysql.dsn: port {port_text!r} is not a number")
                port = int(port_text)
    for key, value in parse_qsl(params):
        if key in _KEPT_GO_PARAMS:
            query[key] = value
    url = URL.create(
        "mysql+aiomysql",
        username=user or None,
        password=password or None,
        host=host,
        port=port,
        database=database or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _masked(dsn: str) -> str:
    """The DSN without its password, for error messages that end up in logs."""
    at = dsn.rfind("@")
    user, sep, _ = dsn[:at].partition(":") if at >= 0 else ("", "", "")
    return f"{user}:***{dsn[at:]}" if sep else dsn
