"""One client socket as the bus sees it: a bounded send queue, per-conversation resume points, slow-client policy.

Frames of stored messages carry ``(conversation_id, seq)``. For every conversation the socket follows it keeps the
highest seq it has queued, drops anything at or below it (a replay and the live stream may overlap), and when a seq
arrives with a gap before it, fetches the missing messages from the store first. So a client sees each conversation
as a gap-free, increasing run of seqs, whatever the order frames arrive in. A socket that does not see private frames
(agents' notes, on a visitor's socket) passes over their seqs without sending them: see :mod:`kefu_host.chat.notes`.

Sending happens in a task that exists only while frames are waiting, so an idle socket costs no task. When more than
``max_queue`` frames wait, the client is too slow: the socket is closed with 4008 and the client resumes on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog
from aiohttp import web

from kefu_host.chat.protocol import CLOSE_TOO_SLOW, Frame, resync_frame
from kefu_host.metrics import NO_SOCKET_COUNTERS, SocketCounters
from kefu_host.tasks import stop_tasks

log = structlog.get_logger("kefu_host.chat")

#: Reads stored message frames of a conversation after a seq, in seq order; raises :class:`ResyncNeeded`.
Fetch = Callable[[int, int], Awaitable[Sequence[Frame]]]


class ResyncNeeded(Exception):
    """The store cannot serve this resume point (too far back, or ahead of the log)."""

    def __init__(self, reason: str, last_seq: int) -> None:
        super().__init__(reason)
        self.reason, self.last_seq = reason, last_seq


class Connection:
    __slots__ = ("ws", "max_queue", "fetch", "label", "sees_private", "_queue", "_sender", "_marks", "_syncing",
                 "_room", "_acks", "closed", "counters")

    def __init__(
        self, ws: web.WebSocketResponse, *, max_queue: int, fetch: Fetch, label: str, sees_private: bool = False,
        counters: SocketCounters = NO_SOCKET_COUNTERS,
    ) -> None:
        self.ws = ws
        #: the metrics this socket bumps (messages delivered, closed as too slow)
        self.counters = counters
        self.max_queue = max_queue
        self.fetch = fetch
        self.label = label
        #: Whether agents-only frames (notes) are sent to this socket; off unless the socket is an agent's.
        self.sees_private = sees_private
        self._queue: deque[str] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._marks: dict[int, int] = {}
        self._syncing: dict[int, list[Frame]] = {}
        self._room: asyncio.Event | None = None  # set while a replay waits for the queue to empty
        #: (conversation, seq) -> the ack text this socket sends in that message's place (it sent the message)
        self._acks: dict[tuple[int, int], str] = {}
        self.closed = False

    def offer(self, frame: Frame) -> None:
        if self.closed:
            return
        cid, seq = frame.conversation_id, frame.seq
        if seq is not None and cid is not None:
            buffered = self._syncing.get(cid)
            if buffered is not None:
                buffered.append(frame)
                if len(buffered) > self.max_queue:
                    self._too_slow()
                return
            mark = self._marks.get(cid)
            if mark is not None:
                if seq <= mark:
                    return
                if seq > mark + 1:
                    self._start_sync(cid, mark, pending=[frame])
                    return
                self._marks[cid] = seq
        if self._acks and cid is not None and seq is not None:
            ack = self._acks.pop((cid, seq), None)
            if ack is not None:
                self.counters.delivered.inc()  # the message reached its sender, as its ack
                self._enqueue(ack)
                return
        if frame.private and not self.sees_private:
            return  # its seq is passed over above; the frame itself never reaches this socket
        if seq is not None:
            self.counters.delivered.inc()
        self._enqueue(frame.text)

    def ack(self, message: Frame, ack: str) -> None:
        """This socket sent ``message``: the ack goes out in the message's place in its stream, in seq order,
        whether the message comes live or from the store (a catch-up may read it before the sender is told)."""
        cid, seq = message.conversation_id, message.seq
        assert cid is not None and seq is not None
        mark = self._marks.get(cid)
        if mark is not None and seq <= mark:
            self.send_text(ack)  # already delivered (and counted) from the store: the ack follows it
            return
        self._acks[(cid, seq)] = ack
        self.offer(message)

    def send_text(self, text: str) -> None:
        if not self.closed:
            self._enqueue(text)

    def send(self, frame: Frame) -> None:
        """A frame for this socket only (an ack, an error, a welcome)."""
        if not self.closed:
            self._enqueue(frame.text)

    def follow(self, conversation_id: int, last_seq: int) -> None:
        """From now on deliver this conversation's messages after ``last_seq`` (the caller replays up to there)."""
        self._marks[conversation_id] = last_seq

    def unfollow(self, conversation_id: int) -> None:
        self._marks.pop(conversation_id, None)
        if self._acks:
            for key in [k for k in self._acks if k[0] == conversation_id]:
                self.send_text(self._acks.pop(key))
        self._syncing.pop(conversation_id, None)

    def position(self, conversation_id: int) -> int | None:
        return self._marks.get(conversation_id)

    async def resume(self, conversation_id: int, after_seq: int) -> None:
        """Replay what the client missed after ``after_seq``, then let live frames through, with no gap or repeat."""
        await self._sync(conversation_id, after_seq, pending=[])

    def catch_up(self, conversation_id: int) -> None:
        """Read from the store whatever came after this socket's mark (publications may have been missed)."""
        mark = self._marks.get(conversation_id)
        if mark is not None and conversation_id not in self._syncing and not self.closed:
            self._start_sync(conversation_id, mark, pending=[])

    def _start_sync(self, cid: int, mark: int, pending: list[Frame]) -> None:
        self._syncing[cid] = pending  # hold live frames while the gap is read from the store
        task = asyncio.get_running_loop().create_task(self._sync(cid, mark, pending))
        task.add_done_callback(_log_failure)

    async def _sync(self, cid: int, after_seq: int, pending: list[Frame]) -> None:
        self._syncing[cid] = pending
        self._marks[cid] = after_seq
        try:
            missed = await self.fetch(cid, after_seq)
        except ResyncNeeded as exc:
            # the client is told explicitly and reloads history; live delivery continues after the log's end
            self.send(resync_frame(cid, exc.reason, exc.last_seq, after_seq))
            self._marks[cid] = exc.last_seq
            missed = ()
        except BaseException:
            self._syncing.pop(cid, None)
            raise
        mark = self._marks[cid]
        for frame in missed:  # paced: a long replay waits for the socket instead of overflowing the queue
            if frame.seq is not None and frame.seq > mark:
                mark = self._marks[cid] = frame.seq  # past a note too: a replay never reads it again
                ack = self._acks.pop((cid, frame.seq), None) if self._acks else None
                if ack is not None:
                    self.counters.delivered.inc()
                    await self._enqueue_paced(ack)
                elif not frame.private or self.sees_private:
                    self.counters.delivered.inc()
                    await self._enqueue_paced(frame.text)
        held = self._syncing.pop(cid, [])
        for frame in held:
            self.offer(frame)

    def _enqueue(self, text: str) -> None:
        if self._sender is None and not self._queue and self._send_now(text):
            return
        if len(self._queue) >= self.max_queue:
            self._too_slow()
            return
        self._queue.append(text)
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._drain())

    def _send_now(self, text: str) -> bool:
        """Write straight to the socket when nothing is waiting: no task per frame in the usual case.

        ``send_str`` only suspends when the transport's buffer is full. It is stepped here by hand; if it does
        suspend, a task takes over the rest (awaiting what it waits on, then the send itself) and later frames queue
        behind it. Returns False only when the socket is closing.
        """
        if self.closed or self.ws.closed:
            return False
        send = self.ws.send_str(text)
        try:
            waiting_on = send.send(None)
        except StopIteration:
            return True
        except (ConnectionError, RuntimeError):
            self.closed = True
            return True
        self._sender = asyncio.get_running_loop().create_task(self._finish_send(send, waiting_on))
        return True

    async def _finish_send(self, send: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        """Drive a send that suspended, the way a Task would: wait for what it waits on, then resume it."""
        try:
            while True:
                if waiting_on is None:
                    await asyncio.sleep(0)
                else:
                    waiting_on._asyncio_future_blocking = False  # a Task clears this before waiting, too
                    with contextlib.suppress(Exception):
                        await waiting_on  # its outcome reaches the send when resumed below
                try:
                    waiting_on = send.send(None)
                except StopIteration:
                    break
        except (ConnectionError, RuntimeError):
            self.closed = True
            return
        except asyncio.CancelledError:
            send.close()
            raise
        finally:
            self._sender = None
        if self._queue:
            self._sender = asyncio.get_running_loop().create_task(self._drain())
        elif self._room is not None:
            self._room.set()
            self._room = None

    async def _enqueue_paced(self, text: str) -> None:
        while len(self._queue) >= self.max_queue // 2 and not self.closed:
            self._room = self._room or asyncio.Event()
            await self._room.wait()
        self._enqueue(text)

    async def _drain(self) -> None:
        try:
            while self._queue and not self.closed:
                await self.ws.send_str(self._queue.popleft())
                if self._room is not None and len(self._queue) < self.max_queue // 2:
                    self._room.set()
                    self._room = None
        except (ConnectionError, RuntimeError):
            self.closed = True  # the peer is gone; the handler's read loop ends and cleans up
        finally:
            self._sender = None
            if self._room is not None:
                self._room.set()
                self._room = None

    def _too_slow(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self.counters.too_slow.inc()
        log.warning("closing slow socket", socket=self.label, limit=self.max_queue)
        task = asyncio.get_running_loop().create_task(
            self.ws.close(code=CLOSE_TOO_SLOW, message=b"send queue full; reconnect with last_seq")
        )
        task.add_done_callback(_log_failure)

    async def aclose(self) -> None:
        self.closed = True
        await stop_tasks(self._sender)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("socket task failed", error=repr(task.exception()))
