"""The ERP's HTTP API as local calls: one shared session, every failure turned into an error an agent reads.

The contract (paths and JSON shapes) is in this package's README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from kefu_host.sdk import ActionError, error_message, json_body

from .settings import ErpSettings

log = structlog.get_logger("kefu_plugin.erp")


class ErpClient:
    def __init__(self, settings: ErpSettings) -> None:
        self.settings = settings
        #: Where requests go: ``settings.base_url``, or where the bundled simulator got its port.
        self.base_url = settings.base_url
        self.session: aiohttp.ClientSession | None = None
        self.headers = {"Accept": "application/json"}
        if settings.token:
            self.headers["Authorization"] = f"Bearer {settings.token}"
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout)

    def open(self, session: aiohttp.ClientSession) -> None:
        """Use the plugin's session from the host (``host.http``): its pool keeps ERP connections alive."""
        self.session = session

    def close(self) -> None:
        self.session = None  # the host closes the session itself after kefu_shutdown

    async def get(self, *segments: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET base_url/segment/... (each segment percent-encoded) and return the JSON object it answers."""
        if self.session is None:
            raise ActionError(
                "erp_unavailable", "the ERP connection is not open (the host is starting or stopping)"
            )
        if any(s in (".", "..") for s in segments):  # URLs resolve them as path steps, past the record asked for
            raise ActionError("bad_args", "'.' and '..' are not ids the ERP can be asked for")
        url = self.base_url + "/" + "/".join(quote(s, safe="") for s in segments)
        try:
            async with self.session.get(url, params=params, headers=self.headers, timeout=self.timeout) as response:
                status = response.status
                body = await response.read()
        except TimeoutError:
            raise _unavailable(f"the ERP did not answer within {self.settings.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            log.warning("ERP unreachable", url=url, error=str(exc))
            raise _unavailable("the ERP cannot be reached right now") from None
        return _answer(status, body, url)


def _answer(status: int, body: bytes, url: str) -> dict[str, Any]:
    data = json_body(body)
    message = error_message(data)
    if status == 404:
        raise ActionError("not_found", message or "the ERP has no such record")
    if status in (401, 403):
        log.error("ERP refused the plugin's token", url=url, status=status)
        raise _unavailable(f"the ERP refused the plugin's credentials (HTTP {status}); tell an administrator")
    if status >= 500 or status == 429:
        log.warning("ERP error", url=url, status=status)
        raise _unavailable(f"the ERP answered HTTP {status}; try again")
    if status >= 400:
        raise ActionError("erp_error", message or f"the ERP refused the request (HTTP {status})")
    if not isinstance(data, dict):
        log.warning("ERP answered something that is not a JSON object", url=url, status=status)
        raise _unavailable("the ERP gave an answer this plugin cannot read")
    return data


def _unavailable(message: str) -> ActionError:
    return ActionError("erp_unavailable", message)
