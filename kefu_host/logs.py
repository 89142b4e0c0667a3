"""Logging: one structlog pipeline for the host, its plugins, aiohttp's access log and any stdlib logger.

Console output on a TTY, JSON lines otherwise. Every record passes :class:`Redactor`, which blanks values of
secret-looking keys, every configured secret wherever it appears, and passwords inside database URLs.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import re
import sys
import time
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import orjson
import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http import HttpProcessingError
from aiohttp.web import BaseRequest, StreamResponse
from structlog.contextvars import merge_contextvars

from kefu_host.http import CURRENT_REQUEST_ID, REQUEST_ID

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"(secret|token|password|passwd|authorization|signature|api_key|apikey|cookie)", re.I)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.I)


class Redactor:
    """A structlog processor that keeps secrets out of every log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: tuple[str, ...] = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))
        self._any_secret = re.compile("|".join(map(re.escape, self.secrets))) if self.secrets else None

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        # runs for every log line, the access log's included: the common cases (numbers, plain strings) stay cheap
        for key, value in event.items():
            if _secret_key(key):
                if value not in (None, "", 0):
                    event[key] = REDACTED
            elif value is not None and value.__class__ not in _PLAIN:
                event[key] = self.scrub(value)
        return event

    def may_hide(self, text: str) -> bool:
        """False when :meth:`scrub` would leave ``text`` as it is (one scan for every secret, of many texts at once)."""
        return "://" in text or (self._any_secret is not None and self._any_secret.search(text) is not None)

    def scrub(self, value: Any) -> Any:
        """``value`` with configured secrets and URL passwords blanked, inside containers too."""
        if isinstance(value, str):
            if "@" in value and "://" in value:
                value = _URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{REDACTED}@", value)
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: REDACTED if _SECRET_KEY.search(str(k)) else self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value


_PLAIN = (int, float, bool)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def add_request_id(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the id of the request being handled (:data:`kefu_host.http.CURRENT_REQUEST_ID`)."""
    request_id = CURRENT_REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def configure_logging(
    *,
    fmt: Literal["auto", "console", "json"] = "auto",
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging through one pipeline writing to ``stream`` (stderr by default)."""
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    redactor = Redactor(secrets)
    shared: list[Any] = [
        merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redactor,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if use_console
        else structlog.processors.JSONRenderer(serializer=_dumps)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,  # a logger is bound once, not on every call (the access log runs per request)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_kefu_host", False):
            root.removeHandler(old)
    handler._kefu_host = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    global _access_sink
    if _access_sink is not None:
        _access_sink.flush()  # the old stream gets what was written to it
    _access_sink = None if use_console else _AccessSink(handler, redactor)


def _dumps(obj: Any, **kw: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


_access = structlog.get_logger("kefu_host.access")
_ACCESS_LOGGER = logging.getLogger("kefu_host.access")


class _AccessSink:
    """The access log's own way to the JSON log stream: the line the pipeline above would write, at a fifth of its
    cost: the same keys in the same order, contextvars merged, secrets redacted.

    Lines are written once per turn of the event loop, all together: a busy host answers many requests a turn, and
    a write per line would cost a system call each and let go of the GIL each time.
    """

    def __init__(self, handler: logging.StreamHandler[Any], redactor: Redactor) -> None:
        self.handler = handler
        self.redactor = redactor
        self._lines: list[str] = []
        self._second = -1
        self._prefix = ""

    def write(
        self, method: str, path: str, status: int, duration_ms: float, remote: str | None, request_id: str | None
    ) -> None:
        context = merge_contextvars(None, "info", {})
        fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms, "remote": remote,
                  "request_id": request_id, "event": "request"}
        if context:  # bound in a context variable: any key, any value
            for key, value in context.items():
                fields.setdefault(key, value)
            self.redactor(None, "info", fields)
        elif self.redactor.may_hide(f"{method} {path} {remote} {request_id}"):
            # otherwise only the texts a caller chose can hold a secret
            scrub = self.redactor.scrub
            for key in ("method", "path", "remote", "request_id"):
                fields[key] = scrub(fields[key])
        fields["level"] = "info"
        fields["logger"] = "kefu_host.access"
        fields["timestamp"] = self._timestamp()
        self._lines.append(orjson.dumps(fields, default=str).decode())
        if len(self._lines) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # called outside a loop: nothing will come back for the line, write it now
                self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        text = "\n".join(lines) + "\n"
        handler = self.handler
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        except Exception:  # as logging does: a broken log stream must not fail the request
            handler.handleError(logging.makeLogRecord({"msg": text}))
        finally:
            handler.release()

    def _timestamp(self) -> str:
        """What ``TimeStamper(fmt="iso", utc=True)`` writes; the date and time are formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        micros = int((now - second) * 1e6)
        return f"{self._prefix}.{micros:06d}Z" if micros else f"{self._prefix}Z"


#: Set by :func:`configure_logging` for JSON output; None sends access lines through structlog (console output, or
#: logging configured by someone else, as under pytest).
_access_sink: _AccessSink | None = None


@atexit.register
def _flush_access_lines() -> None:
    if _access_sink is not None:
        _access_sink.flush()


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log as structured events (request id included through contextvars)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        sink = _access_sink
        if sink is not None:
            if _ACCESS_LOGGER.isEnabledFor(logging.INFO):  # per line: aiohttp asks `enabled` once per connection
                sink.write(request.method, request.path, response.status, round(time * 1000, 2), request.remote,
                           request.get(REQUEST_ID))
        else:
            _access.info("request", method=request.method, path=request.path, status=response.status,
                         duration_ms=round(time * 1000, 2), remote=request.remote, request_id=request.get(REQUEST_ID))

    @property
    def enabled(self) -> bool:
        # our logger's level, not aiohttp's: silencing "kefu_host.access" works on both ways to the stream
        return _ACCESS_LOGGER.isEnabledFor(logging.INFO)


_protocol = structlog.get_logger("kefu_host.protocol")
#: Longest error text kept from a refused request: the parser quotes the offending bytes (up to a whole header).
PROTOCOL_ERROR_CHARS = 200


class ServerLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's ``aiohttp.server`` logger (the runners' ``logger=``), with raw protocol errors as one warning.

    A request the HTTP parser refuses (a bad request line, headers past the size limits, bytes not allowed) is the
    client's mistake, already answered 400: aiohttp logs it as an error with a traceback of its own parser, or at
    debug level for a first line that is not HTTP at all. Here it is one ``bad http request`` warning with the peer
    and the parser's message. Everything else (a handler's unexpected exception, say) is logged as aiohttp wrote
    it.
    """

    def __init__(self) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            # aiohttp's call: ("Error handling request from %s", request.remote, exc_info=exc)
            _protocol.warning("bad http request", remote=args[0] if args else None,
                              error=exc.message[:PROTOCOL_ERROR_CHARS])
            return
        super().log(level, msg, *args, **kwargs)
