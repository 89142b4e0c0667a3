"""Attachment files on disk, under random storage keys: a file's name never becomes a path.

A file is written to ``.incoming/`` while it arrives, counted against ``max_bytes`` chunk by chunk (an oversized
upload is cut off at the first byte over, never held in memory), its type sniffed from its first bytes before
anything is written, and synced to disk before it is moved to ``<key[:2]>/<key>``: a message never names a file
that a crash could lose. A refused or failed upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kefu_host.attachments.sniff import MARKUP, SNIFF_BYTES, sniff

#: Reads the next chunk of the upload; ``b""`` at its end.
Read = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size: int
    content_type: str


class UploadRefused(Exception):
    """An upload the host will not keep: the HTTP status and error code to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FileStore:
    def __init__(self, directory: Path, max_bytes: int, allowed_types: tuple[str, ...]) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.allowed_types = allowed_types
        self._incoming = directory / ".incoming"

    def open(self) -> None:
        """Create the directories; remove what uploads cut off by a crash left in ``.incoming``."""
        self._incoming.mkdir(parents=True, exist_ok=True)
        for leftover in self._incoming.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    async def receive(self, read: Read) -> StoredFile:
        """Stream an upload to disk; raises :class:`UploadRefused` (and keeps nothing) when it is too large, empty
        or of a type not allowed."""
        head, ended = b"", False
        while len(head) < SNIFF_BYTES and not ended:
            chunk = await read()
            ended = not chunk
            head += chunk
            self._check_size(len(head))
        if not head:
            raise UploadRefused(400, "empty_file", "the file is empty")
        kind = sniff(head[:SNIFF_BYTES], complete=ended)
        if kind not in self.allowed_types:
            shown = "HTML or other markup" if kind == MARKUP else kind
            allowed = ", ".join(self.allowed_types) or "none (attachments are off)"
            raise UploadRefused(415, "type_not_allowed", f"the file's content is {shown}; allowed: {allowed}")
        key = secrets.token_hex(16)
        partial = self._incoming / key
        out = await asyncio.to_thread(open, partial, "xb")
        try:
            size = await self._write(out, head, read, ended)
            final = self.path(key)
            await asyncio.to_thread(_move, partial, final)
        except BaseException:
            await asyncio.to_thread(_remove, out, partial)
            raise
        return StoredFile(key, size, kind)

    async def discard(self, key: str) -> None:
        """Remove a stored file (its message was not stored, or was stored by an earlier upload)."""
        await asyncio.to_thread(_unlink, self.path(key))

    async def _write(self, out: BinaryIO, head: bytes, read: Read, ended: bool) -> int:
        size = len(head)
        await asyncio.to_thread(out.write, head)
        while not ended:
            chunk = await read()
            if not chunk:
                break
            size += len(chunk)
            self._check_size(size)
            await asyncio.to_thread(out.write, chunk)
        await asyncio.to_thread(_sync_close, out)
        return size

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise UploadRefused(413, "too_large", f"the file is larger than {self.max_bytes} bytes "
                                                  "(attachments.max_bytes)")


def _sync_close(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
    out.close()


def _move(partial: Path, final: Path) -> None:
    final.parent.mkdir(exist_ok=True)
    os.replace(partial, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


def _remove(out: BinaryIO, partial: Path) -> None:
    out.close()
    _unlink(partial)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
