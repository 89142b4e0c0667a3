"""``POST /api/events`` and ``POST /api/events/batch``: signed business events over HTTP.

Checks run in this order, each with its own answer: size (413), signature (401), JSON (400), envelope and schema
(422 naming the field path), store (503 ``store_busy`` when the writer's events lane is full, ``store_unavailable``
when the database failed; both with ``Retry-After``). 200 only once every event is stored.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import structlog
from aiohttp import web

from kefu_host.events.signing import SignatureError, verify
from kefu_host.events.validation import InvalidEvent
from kefu_host.http import Handler, error_response, json_response
from kefu_host.keys import CONFIG, EVENTS, METRICS
from kefu_host.store import StoreBusy, StoreUnavailable

log = structlog.get_logger("kefu_host.events")
RETRY_AFTER = {"Retry-After": "5"}


async def _signed_body(request: web.Request) -> tuple[bytes, str] | web.Response:
    """The raw body and the source whose secret signed it, or the 413/401 answer."""
    config = request.app[CONFIG].events
    declared = request.content_length
    if declared is not None and declared > config.max_body_bytes:
        return error_response(413, "too_large", f"body over {config.max_body_bytes} bytes")
    body = await request.read()
    if len(body) > config.max_body_bytes:
        return error_response(413, "too_large", f"body over {config.max_body_bytes} bytes")
    last_error = "no event sources are configured (events.sources)"
    for name, source in config.sources.items():
        try:
            verify(request.headers, body, source.secrets, tolerance=config.tolerance)
        except SignatureError as exc:
            last_error = str(exc)
            continue
        return body, name
    return error_response(401, "bad_signature", last_error)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=orjson.dumps({"error": {"code": "invalid_json", "message": f"body is not valid JSON: {exc}"}}).decode(),
            content_type="application/json",
        ) from None


async def _accept(
    request: web.Request, source: str, envelopes: list[Any], batch: bool, body: bytes
) -> web.Response:
    ingestor = request.app[EVENTS].ingestor
    try:
        events = ingestor.parse(source, envelopes, batch=batch, raw=body)
        outcomes = await ingestor.ingest(events)
    except InvalidEvent as exc:
        return error_response(422, "invalid_event", str(exc), field=exc.field)
    except StoreBusy as exc:
        log.warning("events not stored; sender should retry", error=str(exc), source=source)
        return json_response(
            {"error": {"code": "store_busy", "message": f"the host is busy; send the same events again after "
                       f"{exc.retry_after:g} s"}},
            status=503, headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        )
    except StoreUnavailable as exc:
        log.warning("events not stored; sender should retry", error=str(exc), source=source)
        return json_response({"error": {"code": "store_unavailable", "message": "try again later"}}, status=503,
                             headers=RETRY_AFTER)
    if batch:
        return json_response({"results": [o.to_dict() for o in outcomes]})
    return json_response(outcomes[0].to_dict())


async def post_event(request: web.Request) -> web.Response:
    """One event: ``{"id", "type", "occurred_at", "data"}``."""
    signed = await _signed_body(request)
    if isinstance(signed, web.Response):
        return signed
    body, source = signed
    return await _accept(request, source, [_json(body)], batch=False, body=body)


async def post_batch(request: web.Request) -> web.Response:
    """Up to ``events.max_batch`` events: ``{"events": [...]}``. All are validated before any is stored, and they
    are stored together or not at all."""
    signed = await _signed_body(request)
    if isinstance(signed, web.Response):
        return signed
    body, source = signed
    data = _json(body)
    envelopes = data.get("events") if isinstance(data, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        return error_response(422, "invalid_event", "events: must be a non-empty list", field="events")
    limit = request.app[CONFIG].events.max_batch
    if len(envelopes) > limit:
        return error_response(413, "too_many_events", f"events: at most {limit} per batch", field="events")
    return await _accept(request, source, envelopes, batch=True, body=body)


#: The refusal each status stands for, in the metrics (``too_many_events`` is counted as ``too_large``; a 503 is
#: ``store_busy`` or ``store_unavailable``, as its body says).
_REFUSALS = {400: "invalid_json", 401: "bad_signature", 413: "too_large", 422: "invalid_event",
             503: "store_unavailable"}


def _refusal(response: web.StreamResponse) -> str:
    if response.status == 503 and isinstance(response, web.Response) and isinstance(response.body, bytes):
        code = orjson.loads(response.body)["error"]["code"]  # the answers of _accept, nothing else
        return "store_busy" if code == "store_busy" else "store_unavailable"
    return _REFUSALS.get(response.status, str(response.status))


def _counted(handler: Handler) -> Handler:
    async def counting(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            request.app[METRICS].event_refused(_REFUSALS.get(exc.status, str(exc.status)))
            raise
        if response.status >= 400:
            request.app[METRICS].event_refused(_refusal(response))
        return response

    return counting


def setup(app: web.Application) -> None:
    app.router.add_post("/api/events", _counted(post_event))
    app.router.add_post("/api/events/batch", _counted(post_batch))
