"""Every open WebSocket, so shutdown can close them all with 1001 (going away) before handlers are waited for."""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import WSCloseCode, web


class OpenSockets:
    """A weak set of open WebSockets; handlers ``add`` theirs (chat sockets, plugin sockets alike)."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def add(self, ws: web.WebSocketResponse) -> None:
        self._sockets.add(ws)

    def __len__(self) -> int:
        return len(self._sockets)

    async def close_all(self, message: bytes = b"server shutting down") -> None:
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY, message=message) for ws in list(self._sockets) if not ws.closed),
            return_exceptions=True,
        )
