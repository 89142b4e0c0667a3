"""PostgreSQL LISTEN for rule publishes, on a connection of its own that comes back after it is lost.

A notification only says "look now": the periodic check of :mod:`kefu_host.routing.cluster` still runs, so a
notification lost while the connection was down costs at most one ``rules.check_interval``; and each (re)connect
calls ``on_connect`` so the node looks at once for what it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import make_url

log = structlog.get_logger("kefu_host.rules")

_FIRST_DELAY = 0.5
_MAX_DELAY = 30.0


def asyncpg_dsn(url: str) -> str:
    """The ``postgresql://`` DSN asyncpg takes for a ``postgresql+asyncpg://`` SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(dsn: str, channel: str, on_notify: Callable[[str], None], on_connect: Callable[[], None]) -> None:
    """LISTEN on ``channel`` until cancelled, reconnecting with backoff (0.5 s doubling to 30 s)."""
    delay = _FIRST_DELAY
    while True:
        conn: Any = None
        try:
            conn = await asyncpg.connect(dsn, timeout=10)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: on_notify(payload))
            log.info("rules_listening", channel=channel)
            on_connect()
            delay = _FIRST_DELAY
            await lost.wait()
            log.warning("rules_listen_lost", channel=channel, retry_in=delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is down or refuses us: the periodic check still runs meanwhile
            log.warning("rules_listen_failed", channel=channel, error=f"{type(exc).__name__}: {exc}", retry_in=delay)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await conn.close()
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)
