"""Uploading and downloading attachments.

``POST /api/conversations/{id}/attachments`` takes ``multipart/form-data`` with a ``client_msg_id`` field and then
a ``file`` part, from the conversation's visitor (their token) or the agent holding it. The file is streamed to disk
(:mod:`~kefu_host.attachments.storage`), then stored as a message of kind ``attachment``, delivered like any other.
A resend with the same ``client_msg_id`` answers with the stored message and keeps no second file.

``GET /api/conversations/{id}/attachments/{message_id}`` serves the file to whoever may read the conversation, as
the download it is: never a document of the host's origin (``nosniff``, a sandboxing CSP, ``Content-Disposition:
attachment``; sniffed images inline, since a browser only ever shows those as pictures).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import structlog
from aiohttp import BodyPartReader, MultipartReader, web

from kefu_host.attachments.names import content_disposition, display_name
from kefu_host.attachments.sniff import is_image
from kefu_host.attachments.storage import FileStore, StoredFile, UploadRefused
from kefu_host.chat.append import Appended
from kefu_host.chat.http_api import Reader, conversation_reader
from kefu_host.chat.protocol import MAX_CLIENT_MSG_ID
from kefu_host.chat.runtime import ChatRuntime
from kefu_host.chat.service import Visitor
from kefu_host.chat.values import ATTACHMENT
from kefu_host.config import Config, database_url, resolve_path
from kefu_host.http import error_response, json_response, path_int
from kefu_host.inputs import ID_RANGE, NUL
from kefu_host.keys import ATTACHMENTS, CHAT, CONFIG
from kefu_host.store import StoreUnavailable
from kefu_host.store.engine import sqlite_path

log = structlog.get_logger("kefu_host.attachments")

#: Bytes read from the file part at a time.
CHUNK = 64 * 1024
#: What a multipart body holds besides the file: boundaries, part headers, the client_msg_id field. A
#: Content-Length above max_bytes plus this is refused before anything is read.
MULTIPART_SLACK = 64 * 1024
#: The headers of every attachment download: the browser runs nothing in it and guesses no other type.
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}


def attachments_directory(config: Config) -> Path:
    """``attachments.directory``, else beside a SQLite database file (``kefu.db`` -> ``kefu.attachments``), else
    ``attachments`` in the config file's directory."""
    if config.attachments.directory is not None:
        return resolve_path(config, config.attachments.directory)
    database = sqlite_path(database_url(config))
    if database is not None:
        path = Path(database)
        return path.with_name(f"{path.stem}.attachments")
    return resolve_path(config, Path("attachments"))


async def attachments_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = FileStore(attachments_directory(config), config.attachments.max_bytes, config.attachments.allowed_types)
    await asyncio.to_thread(store.open)
    app[ATTACHMENTS] = store
    yield


def setup(app: web.Application) -> None:
    app.router.add_post("/api/conversations/{id}/attachments", upload)
    app.router.add_get("/api/conversations/{id}/attachments/{message_id}", download)
    app.cleanup_ctx.append(attachments_ctx)


async def upload(request: web.Request) -> web.Response:
    """Store a file in the conversation as an attachment message; 201 with it (200 for a resend)."""
    conversation_id = path_int(request, "id", ID_RANGE)
    files = request.app[ATTACHMENTS]
    if not files.allowed_types:
        return error_response(403, "attachments_off", "this host accepts no attachments (attachments.allowed_types)")
    reader = await conversation_reader(request, conversation_id)
    if isinstance(reader, web.Response):
        return reader
    chat = request.app[CHAT]
    refused = await _may_write(chat, reader)
    if refused is not None:
        return refused
    if request.content_length is not None and request.content_length > files.max_bytes + MULTIPART_SLACK:
        return error_response(413, "too_large", f"the file is larger than {files.max_bytes} bytes "
                                                "(attachments.max_bytes)")
    if request.content_type != "multipart/form-data":
        return error_response(400, "bad_request", "send multipart/form-data: a client_msg_id field, then the file")
    try:
        return await _receive(request, chat, files, reader)
    except UploadRefused as exc:
        return error_response(exc.status, exc.code, exc.message)
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "the attachment was not stored; send it again")


async def _may_write(chat: ChatRuntime, reader: Reader) -> web.Response | None:
    """Only the conversation's participants add to it: the agent holding it, or its visitor in their current
    conversation (at the visitor message rate)."""
    cid = reader.conversation.id
    if reader.agent is not None:
        if not await chat.service.owns(reader.agent.id, cid):
            return error_response(403, "forbidden", f"conversation {cid} is not assigned to you")
        return None
    if reader.visitor is None:
        return error_response(403, "forbidden", "the admin does not write in conversations")
    customer_id = reader.visitor.customer_id
    current = None if chat.service.shared else chat.service.open_conversation_id(customer_id)
    if current is None:
        latest = await chat.service.repo.latest_conversation(customer_id)
        current = latest.id if latest is not None else None
    if current != cid:
        return error_response(409, "not_current", f"conversation {cid} is not your current conversation")
    bucket = chat.auth.visitor_rate.acquire(customer_id)
    try:
        wait = bucket.take()
    finally:
        chat.auth.visitor_rate.release(customer_id)
    if wait:
        return error_response(429, "rate_limited", f"too many messages; retry in {wait:.1f}s",
                              retry_after=round(wait, 1))
    return None


async def _receive(request: web.Request, chat: ChatRuntime, files: FileStore, reader: Reader) -> web.Response:
    parts = await request.multipart()
    client_msg_id = await _client_msg_id(parts)
    cid = reader.conversation.id
    sender = "agent" if reader.agent is not None else "visitor"
    stored_before = await chat.service.repo.message_sent_as(cid, sender, client_msg_id)
    if stored_before is not None:  # a resend: the file is not read again
        return _answer(stored_before.to_frame(), duplicate=True)
    part = await parts.next()
    if not isinstance(part, BodyPartReader) or part.name != "file" or part.filename is None:
        raise UploadRefused(400, "bad_request", "after client_msg_id comes the file part (name \"file\", with a "
                                                "filename)")
    name = display_name(part.filename)
    stored = await files.receive(lambda: part.read_chunk(CHUNK))
    try:
        appended = await _store(chat, reader, client_msg_id, name, stored)
    except BaseException:
        await files.discard(stored.key)
        raise
    if appended.duplicate:  # the same upload, sent twice at once: the other one's file is the message's
        await files.discard(stored.key)
        return _answer(appended.message.to_frame(), duplicate=True)
    log.info("attachment stored", conversation_id=cid, message_id=appended.message.id, size=stored.size,
             content_type=stored.content_type, sender=sender)
    return _answer(appended.message.to_frame(), duplicate=False)


async def _client_msg_id(parts: MultipartReader) -> str:
    part = await parts.next()
    if not isinstance(part, BodyPartReader) or part.name != "client_msg_id":
        raise UploadRefused(400, "bad_request", "the first part must be the client_msg_id field, then the file")
    limit = MAX_CLIENT_MSG_ID * 4  # UTF-8 bytes of the longest one allowed
    raw = b""
    while chunk := await part.read_chunk(limit + 1):
        raw += chunk
        if len(raw) > limit:
            break
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UploadRefused(400, "bad_request", "client_msg_id is not UTF-8 text") from None
    if not value:
        raise UploadRefused(400, "bad_request", "client_msg_id must be a non-empty string")
    if NUL in value:
        raise UploadRefused(400, "bad_request", "client_msg_id must not contain U+0000 (NUL)")
    if len(raw) > limit or len(value) > MAX_CLIENT_MSG_ID:
        raise UploadRefused(400, "too_long", f"client_msg_id is longer than {MAX_CLIENT_MSG_ID} characters")
    return value


async def _store(chat: ChatRuntime, reader: Reader, client_msg_id: str, name: str, stored: StoredFile) -> Appended:
    """The attachment message, told to plugins and routed like a message of its sender."""
    meta: dict[str, Any] = {"key": stored.key, "name": name, "size": stored.size,
                            "content_type": stored.content_type, "image": is_image(stored.content_type)}
    service = chat.service
    cid = reader.conversation.id
    if reader.agent is not None:
        appended = await service.store_agent_message(reader.agent.id, cid, client_msg_id, name, kind=ATTACHMENT,
                                                     attachment=meta)
        if not appended.duplicate:
            await service.after_agent_message(cid, appended.message)
        return appended
    assert reader.visitor is not None
    visitor = Visitor(reader.visitor.visitor_id, reader.visitor.customer_id)
    appended, state, opened = await service.store_visitor_message(visitor, client_msg_id, name, kind=ATTACHMENT,
                                                                  attachment=meta)
    if not appended.duplicate:
        await service.after_visitor_message(state, appended.message, opened)
    return appended


def _answer(message: dict[str, Any], *, duplicate: bool) -> web.Response:
    return json_response({"message": message, "duplicate": duplicate}, status=200 if duplicate else 201)


async def download(request: web.Request) -> web.StreamResponse:
    """The file of an attachment message, to whoever may read its conversation."""
    conversation_id = path_int(request, "id", ID_RANGE)
    message_id = path_int(request, "message_id", ID_RANGE)
    reader = await conversation_reader(request, conversation_id)
    if isinstance(reader, web.Response):
        return reader
    message = await request.app[CHAT].service.repo.message(conversation_id, message_id)
    missing = error_response(404, "not_found", f"no attachment {message_id} in conversation {conversation_id}")
    if message is None or message.kind != ATTACHMENT or message.attachment is None:
        return missing
    meta = message.attachment
    path = request.app[ATTACHMENTS].path(meta["key"])
    if not await asyncio.to_thread(path.is_file):
        log.warning("attachment file missing", conversation_id=conversation_id, message_id=message_id)
        return missing
    return web.FileResponse(path, headers=file_headers(meta))


def file_headers(meta: Mapping[str, Any]) -> dict[str, str]:
    """Type as sniffed at upload, name as given (encoded), inline only for images."""
    kind = meta["content_type"]
    return {
        **DOWNLOAD_HEADERS,
        "Content-Type": f"{kind}; charset=utf-8" if kind == "text/plain" else kind,
        "Content-Disposition": content_disposition("inline" if is_image(kind) else "attachment", meta["name"]),
    }
