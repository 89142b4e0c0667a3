"""A file's type from its first bytes, never from its name or the Content-Type a client claims.

Only formats recognised here can be allowed (``attachments.allowed_types``). Markup (HTML, XML, SVG) is recognised
so that it can be refused by name: it is never one of the choices, because a browser could run it.
"""

from __future__ import annotations

#: How many leading bytes decide the type.
SNIFF_BYTES = 1024

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: The types ``attachments.allowed_types`` may list. ``application/octet-stream`` is any other binary file.
SNIFFED_TYPES: tuple[str, ...] = (*IMAGE_TYPES, "application/pdf", "application/zip", "text/plain",
                                  "application/octet-stream")
#: What sniffing says about markup; never allowed.
MARKUP = "text/html"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),  # an empty archive
)
# The tags of the WHATWG MIME Sniffing "HTML" patterns, and XML's prolog and SVG, each followed by a byte that ends a
# tag name; compared without case, after leading whitespace.
_MARKUP_STARTS = (b"<!doctype html", b"<html", b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font",
                  b"<table", b"<a", b"<style", b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--", b"<?xml", b"<svg",
                  b"<object", b"<embed", b"<img", b"<meta", b"<link", b"<form", b"<math")  # fmt: skip
_TAG_END = b" >\t\n\r\x0c/"
# Bytes that never occur in text (WHATWG's "binary data bytes").
_BINARY = frozenset(range(0x00, 0x09)) | {0x0B} | frozenset(range(0x0E, 0x1B)) | frozenset(range(0x1C, 0x20))
_BOM = b"\xef\xbb\xbf"


def sniff(head: bytes, *, complete: bool = False) -> str:
    """The type of a file starting with ``head`` (its first :data:`SNIFF_BYTES` bytes, or all of it when shorter;
    ``complete`` says it is the whole file). One of :data:`SNIFFED_TYPES`, or :data:`MARKUP`."""
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if _looks_like_markup(head):
        return MARKUP
    if _is_text(head, complete):
        return "text/plain"
    return "application/octet-stream"


def is_image(kind: str) -> bool:
    return kind in IMAGE_TYPES


def _looks_like_markup(head: bytes) -> bool:
    text = head.removeprefix(_BOM).lstrip(b" \t\n\r\x0c").lower()
    for start in _MARKUP_STARTS:
        if text.startswith(start) and (len(text) == len(start) or text[len(start)] in _TAG_END
                                       or start in (b"<!--", b"<?xml")):
            return True
    return False


def _is_text(head: bytes, complete: bool) -> bool:
    """UTF-8 without binary bytes; a character cut off at the end of an incomplete head still counts as text."""
    if any(byte in _BINARY for byte in head):
        return False
    body = head.removeprefix(_BOM)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return not complete and exc.start >= len(body) - 3 and exc.reason == "unexpected end of data"
    return True
