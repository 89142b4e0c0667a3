"""A file's type comes from its bytes: what it is named or claims to be does not matter."""

from __future__ import annotations

import pytest

from kefu_host.attachments.sniff import MARKUP, SNIFF_BYTES, sniff
from kefu_host.testing.files import HTML, SVG, png


@pytest.mark.parametrize("head, kind", [
    (png(), "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
    (b"PK\x03\x04\x14\x00\x06\x00", "application/zip"),
    ("订单 12345 的发票\r\n".encode(), "text/plain"),
    (b"\x7fELF\x02\x01\x01\x00", "application/octet-stream"),
    (b"hello\x00world", "application/octet-stream"),
])
def test_formats_are_known_by_their_first_bytes(head: bytes, kind: str) -> None:
    assert sniff(head, complete=True) == kind


@pytest.mark.parametrize("head", [
    HTML, SVG, b"  \n<HTML><p>hi", b"\xef\xbb\xbf<script>alert(1)</script>", b"<!-- comment --><b>x</b>",
    b"<svg/onload=alert(1)>", b"<iframe src=//evil>", b"<a href=x>click</a>", b"<img src=x onerror=alert(1)>",
])
def test_markup_is_recognised_whatever_its_case_or_leading_space(head: bytes) -> None:
    assert sniff(head, complete=True) == MARKUP


def test_text_that_merely_mentions_tags_is_text() -> None:
    assert sniff(b"use <b> for bold, <script> is not allowed", complete=True) == "text/plain"
    assert sniff(b"<abbr>", complete=True) == "text/plain"  # not a tag of the sniffing patterns


def test_a_character_cut_by_the_end_of_the_head_is_still_text_but_not_at_the_end_of_the_file() -> None:
    text = ("发" * SNIFF_BYTES).encode()[:SNIFF_BYTES]
    assert len(text) % 3 != 0  # ends inside a character
    assert sniff(text, complete=False) == "text/plain"
    assert sniff(text, complete=True) == "application/octet-stream"
