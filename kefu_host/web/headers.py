"""Security headers: a Content-Security-Policy per kind of page, and the headers every answer of the web UI has."""

from __future__ import annotations

from collections.abc import Iterable

#: Every page and file of the web UI.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: Static files are never documents to render: a file opened on its own runs nothing and cannot be framed.
STATIC_HEADERS = {**COMMON_HEADERS, "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}


def page_csp(*, script_sources: Iterable[str] = (), frame_ancestors: Iterable[str] = ()) -> str:
    """The policy of a page: its own origin only, plus the exact inline scripts named by hash.

    ``connect-src 'self'`` covers the page's WebSocket (``ws:``/``wss:`` to the same host, CSP level 3).
    ``img-src blob:`` shows attachment previews: fetched with the page's credential (an ``<img src>`` cannot carry
    one), they are drawn from blob: URLs of bytes the host sniffed as images.
    ``frame_ancestors`` empty means the page may not be framed at all.
    """
    ancestors = " ".join(frame_ancestors) or "'none'"
    scripts = " ".join(["'self'", *script_sources])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {ancestors}",
    ])  # fmt: skip


def page_headers(csp: str) -> dict[str, str]:
    return {**COMMON_HEADERS, "Content-Security-Policy": csp, "Cache-Control": "no-cache"}
