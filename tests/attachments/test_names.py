"""File names are user data: shown as text, never a path, and encoded so they cannot break a header."""

from __future__ import annotations

from kefu_host.attachments.names import MAX_NAME, content_disposition, display_name


def test_directories_control_and_direction_characters_are_removed() -> None:
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\li\\发票.pdf") == "发票.pdf"
    assert display_name("report\r\nSet-Cookie: x.txt") == "report Set-Cookie: x.txt"
    assert display_name("invoice\u202egpj.exe") == "invoicegpj.exe"  # the override that shows it as invoiceexe.jpg
    assert display_name("") == display_name("...") == display_name(None) == "file"


def test_a_long_name_keeps_its_extension() -> None:
    name = display_name("a" * 500 + ".png")
    assert len(name) == MAX_NAME and name.endswith("a.png")


def test_the_header_has_an_ascii_fallback_and_the_real_name_percent_encoded() -> None:
    header = content_disposition("attachment", '发票 "final"; x=1.pdf')
    assert header == ("attachment; filename=\"__ _final__ x=1.pdf\"; "
                      "filename*=UTF-8''%E5%8F%91%E7%A5%A8%20%22final%22%3B%20x%3D1.pdf")
    assert "\r" not in content_disposition("inline", display_name("a\r\nb.png"))
