"""The WebSocket protocol: inbound frame parsing, outbound frame building, error codes and close codes.

docs/protocol.md is the reference for clients; keep the two in step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson

from kefu_host.chat.notes import agents_only
from kefu_host.inputs import INT32_RANGE, BadInput, IntRange, json_int, json_problem

# Close codes (RFC 6455 reserves 4000-4999 for applications).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the host is shutting down: reconnect (elsewhere) and resume
CLOSE_TOO_BIG = 1009  # a frame over server.max_frame_bytes
CLOSE_TOO_SLOW = 4008  # the client did not read fast enough; reconnect with last_seq
CLOSE_SESSION_ENDED = 4001  # the token expired or the agent was disabled

#: Limits of a ``send`` frame's texts, in characters (Unicode code points, as Python's ``len``).
MAX_BODY_CHARS = 8000
MAX_CLIENT_MSG_ID = 100
#: The most bytes one character can take in a frame: a character outside the BMP that a client writes as two
#: ``\uXXXX`` escapes (a surrogate pair). CJK text is 3 bytes a character as UTF-8, 6 when escaped.
MAX_BYTES_PER_CHAR = 12
#: Bytes a ``send`` frame needs with both texts at their limits, however its characters are written (the rest of
#: the frame, keys and a conversation id, fits in the 1 KiB added). ``server.max_frame_bytes`` may not be lower, so
#: a frame within the character limits is never closed with 1009.
SEND_FRAME_BYTES = (MAX_BODY_CHARS + MAX_CLIENT_MSG_ID) * MAX_BYTES_PER_CHAR + 1024
#: How much of a refused value an error message repeats.
_SHOWN = 60


class FrameError(Exception):
    """A frame the host will not act on; answered with an ``error`` frame carrying ``code``. Messages about one
    field of the frame name it in quotes (``'body' is longer than 8000 characters``)."""

    def __init__(self, code: str, message: str, ref: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.ref = code, message, ref
        #: more fields of the error frame (``retry_after`` of ``store_busy``)
        self.extra = extra


def not_stored(exc: Exception, what: str = "the message", ref: str | None = None) -> FrameError:
    """The error frame for a write the store refused (:class:`~kefu_host.store.StoreUnavailable`): ``store_busy``
    with ``retry_after`` when the writer's queue was full, ``store_unavailable`` otherwise. Neither stored it."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        same = " (with the same client_msg_id)" if ref is not None else ""
        return FrameError("store_busy", f"the host is busy: {what} was not stored; send it again{same} after "
                          "retry_after seconds", ref, retry_after=retry_after)
    return FrameError("store_unavailable", f"{what} was not stored; send it again", ref)


class Frame(NamedTuple):
    """An outbound frame, serialised once however many sockets it goes to (a tuple: several are made per message).

    ``conversation_id`` and ``seq`` are set for stored messages, so each socket can drop what it already has.
    ``origin`` names the session (node-qualified: :attr:`~kefu_host.chat.session.Session.origin`) whose frame caused
    this one; that session skips it (nobody hears their own ``typing``). ``private`` frames (agents' notes) are
    delivered only by sockets that see them: a visitor's socket skips their seq (:mod:`kefu_host.chat.notes`).
    What a session should do besides delivering (follow a conversation) is published beside the frame, never in it
    (:mod:`kefu_host.chat.broker`).
    """

    text: str
    conversation_id: int | None = None
    seq: int | None = None
    origin: str | None = None
    private: bool = False


def frame(
    data: dict[str, Any],
    *,
    conversation_id: int | None = None,
    seq: int | None = None,
    origin: str | None = None,
    private: bool = False,
) -> Frame:
    return Frame(orjson.dumps(data).decode(), conversation_id, seq, origin, private)


def message_frame(message: Any) -> Frame:
    """The frame of a stored message (a :class:`~kefu_host.chat.values.MessageView`), agents-only for a note."""
    return frame(message.to_frame(), conversation_id=message.conversation_id, seq=message.seq,
                 private=agents_only(message.kind))


def ack_body(message: Any, duplicate: bool) -> dict[str, Any]:
    """The ``ack`` frame for a stored message (a :class:`~kefu_host.chat.values.MessageView`)."""
    return {
        "type": "ack",
        "client_msg_id": message.client_msg_id,
        "conversation_id": message.conversation_id,
        "id": message.id,
        "seq": message.seq,
        "duplicate": duplicate,
    }


def error_frame(code: str, message: str, ref: str | None = None, **extra: Any) -> Frame:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        body["ref"] = ref
    body.update(extra)
    return frame(body)


def resync_frame(conversation_id: int, reason: str, last_seq: int, from_seq: int) -> Frame:
    """The resume point cannot be served: reload history over HTTP, live messages continue after ``last_seq``."""
    return frame(
        {
            "type": "resync",
            "conversation_id": conversation_id,
            "reason": reason,
            "from_seq": from_seq,
            "last_seq": last_seq,
        }
    )


def parse(text: str, allowed: frozenset[str]) -> dict[str, Any]:
    """Decode one client frame: a JSON object whose ``type`` is one of ``allowed``, with no text holding NUL and
    no deeper nesting than :mod:`kefu_host.inputs` allows, in any field: what is refused here never reaches a
    database."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("bad_json", "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "frame must be a JSON object")
    problem = json_problem(data, text)
    if problem is not None:
        raise FrameError("bad_frame", f"'{problem.field}' {problem.message}", frame_ref(data))
    kind = data.get("type")
    if not isinstance(kind, str):
        raise FrameError("bad_frame", "frame has no string 'type'")
    if kind not in allowed:
        raise FrameError("unknown_type",
                         f"unknown frame type {_shown(kind)}; expected one of {', '.join(sorted(allowed))}")
    return data


def frame_ref(data: dict[str, Any]) -> str | None:
    """What a client's frame is known by in answers: its ``client_msg_id``, else its ``ref`` (action frames); not
    one the host would refuse (too long, holding NUL), which is not sent back."""
    for key in ("client_msg_id", "ref"):
        value = data.get(key)
        if isinstance(value, str):
            return value if len(value) <= MAX_CLIENT_MSG_ID and "\x00" not in value else None
    return None


@contextlib.contextmanager
def answering(data: dict[str, Any]) -> Iterator[None]:
    """Errors raised while handling ``data`` carry its ref, wherever in the handling they were raised."""
    try:
        yield
    except FrameError as exc:
        if exc.ref is None:
            exc.ref = frame_ref(data)
        raise


def text_field(data: dict[str, Any], name: str, *, max_len: int, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FrameError("bad_frame", f"'{name}' must be a non-empty string")
    if len(value) > max_len:
        raise FrameError("too_long", f"'{name}' is longer than {max_len} characters")
    return value


def int_field(data: dict[str, Any], name: str, bounds: IntRange = INT32_RANGE, *, required: bool = True) -> int | None:
    """An integer field within ``bounds`` (seqs by default; :data:`~kefu_host.inputs.ID_RANGE` for ids)."""
    value = data.get(name)
    if value is None and not required:
        return None
    try:
        return json_int(value, name, bounds)
    except BadInput as exc:
        raise FrameError("bad_frame", f"'{name}' {exc.message}") from None


def optional_text(data: dict[str, Any], name: str, *, max_len: int) -> str | None:
    """A free-text field a visitor may leave out or blank (None then); surrounding whitespace is dropped. (NUL is
    refused for every field when the frame is parsed.)"""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FrameError("bad_frame", f"'{name}' must be a string")
    if len(value) > max_len:
        raise FrameError("too_long", f"'{name}' is longer than {max_len} characters")
    return value.strip() or None


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def bool_field(data: dict[str, Any], name: str) -> bool:
    """An optional boolean field (absent is false)."""
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise FrameError("bad_frame", f"'{name}' must be true or false")
    return value
