"""Every open WebSocket, so shutdown can close them all with 1001 (going away) before handlers are waited for."""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Callable

from aiohttp import WSCloseCode, web


class OpenSockets:
    """A weak set of open WebSockets and their kinds; handlers ``add`` theirs (chat sockets, plugin sockets alike).

    ``on_open`` hears the kind of each socket added (the metrics count them)."""

    def __init__(self, on_open: Callable[[str], None] | None = None) -> None:
        self._sockets: weakref.WeakKeyDictionary[web.WebSocketResponse, str] = weakref.WeakKeyDictionary()
        self._on_open = on_open

    def add(self, ws: web.WebSocketResponse, kind: str = "plugin") -> None:
        self._sockets[ws] = kind
        if self._on_open is not None:
            self._on_open(kind)

    def __len__(self) -> int:
        return len(self._sockets)

    def by_kind(self) -> dict[str, int]:
        """Sockets still open, by kind."""
        return dict(Counter(kind for ws, kind in list(self._sockets.items()) if not ws.closed))

    async def close_all(self, message: bytes = b"server shutting down") -> None:
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=message) for ws in list(self._sockets) if not ws.closed),
            return_exceptions=True,
        )
