"""The pages: the agent console (``/``), the widget's frame (``/widget/frame``), the demo shop (``/demo``).

Pages are HTML templates with no inline script but the import map; what a script needs to know reaches it through
``data-`` attributes on ``<body>``, escaped here.
"""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kefu_host import __version__
from kefu_host.config import Config
from kefu_host.http import error_response
from kefu_host.web.headers import COMMON_HEADERS, page_csp, page_headers
from kefu_host.web.importmap import ImportMap

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("zh", "en")


@dataclass(frozen=True, slots=True)
class Pages:
    """The templates, read once, and the import map they embed."""

    templates: dict[str, string.Template]
    importmap: ImportMap

    @classmethod
    def load(cls, importmap: ImportMap) -> Pages:
        return cls({p.stem: string.Template(p.read_text(encoding="utf-8")) for p in TEMPLATES.glob("*.html")},
                   importmap)

    def render(self, name: str, **values: str) -> str:
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        return self.templates[name].substitute(escaped, importmap=self.importmap.text, version=__version__)


def own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def embedding_allowed(origin: str, request: web.Request, config: Config) -> bool:
    """The rule the WebSocket handshake applies to ``Origin``: listed in ``server.allowed_origins``, or this
    host's own origin when the list is empty."""
    allowed = config.server.allowed_origins
    return origin in allowed or (not allowed and origin == own_origin(request))


#: ``scheme://host[:port]`` and nothing more (no path, query or credentials), as browsers serialise origins.
ORIGIN = re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def is_origin(text: str) -> bool:
    return ORIGIN.fullmatch(text) is not None


def console_page(pages: Pages, request: web.Request) -> web.Response:
    csp = page_csp(script_sources=[pages.importmap.csp_source])
    return _html(pages.render("console"), csp)


def frame_page(pages: Pages, request: web.Request, config: Config) -> web.Response:
    """The widget's iframe. ``?origin=`` names the page embedding it; the frame trusts postMessage only from there.

    The origin must be one the host accepts for browsers (see :func:`embedding_allowed`), and the page's
    ``frame-ancestors`` is that origin alone: a site cannot frame the widget while claiming another origin.
    """
    origin = request.query.get("origin", "")
    if not origin:
        return _refused(400, "bad_request", "query parameter origin (the embedding page's origin) is required")
    if not is_origin(origin):
        return _refused(400, "bad_request", f"origin must look like https://shop.example, got {origin!r}")
    if not embedding_allowed(origin, request, config):
        return _refused(403, "origin_not_allowed", f"origin {origin} is not in server.allowed_origins")
    lang = request.query.get("lang", "")
    csp = page_csp(script_sources=[pages.importmap.csp_source], frame_ancestors=[origin])
    return _html(pages.render("frame", parent_origin=origin, lang=lang if lang in LANGUAGES else ""), csp)


def demo_page(pages: Pages, request: web.Request) -> web.Response:
    return _html(pages.render("demo", host=own_origin(request)), page_csp())


def _refused(status: int, code: str, message: str) -> web.Response:
    """The JSON error, shown as text in the refused site's iframe (so its developer reads why), running nothing."""
    response = error_response(status, code, message)
    response.headers.update({**COMMON_HEADERS, "Content-Security-Policy": "default-src 'none'"})
    return response


def _html(text: str, csp: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=page_headers(csp))
