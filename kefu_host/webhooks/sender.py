"""One HTTP attempt of one delivery: POST the signed JSON body, tell success from failure.

Only a 2xx answer counts as delivered. Redirects are not followed (a receiver that moved should be reconfigured, and
following them would send signed payloads wherever a redirect points), so a 3xx is a failure like any other status.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from kefu_host import __version__
from kefu_host.events.signing import sign

USER_AGENT = f"kefu-host/{__version__} (webhooks)"
#: How much of a failing receiver's answer goes into ``last_error``.
ERROR_BODY_CHARS = 200


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    #: Why it failed, for ``last_error`` (None when ok).
    error: str | None = None


async def post(
    session: aiohttp.ClientSession, url: str, secret: str, delivery_id: str, body: bytes, timeout: float
) -> Attempt:
    """Send ``body`` to ``url`` signed with ``secret`` under ``delivery_id``; never raises for network trouble."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **sign(secret, delivery_id, body),
    }
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            if 200 <= response.status < 300:
                return Attempt(ok=True)
            snippet = (await response.content.read(ERROR_BODY_CHARS)).decode("utf-8", "replace").strip()
            reason = f"HTTP {response.status}" + (f": {snippet}" if snippet else "")
            return Attempt(ok=False, error=reason)
    except TimeoutError:
        return Attempt(ok=False, error=f"timed out after {timeout:g}s")
    except aiohttp.ClientError as exc:
        return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
    except (OSError, ValueError) as exc:  # e.g. a malformed URL or a socket error aiohttp did not wrap
        return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
