"""The payment provider's refund API: one shared session, failures turned into errors an agent can act on.

The contract (path, headers, JSON shapes) is in this package's README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from kefu_host.sdk import ActionError, error_message, json_body

from .settings import PaymentsSettings

log = structlog.get_logger("kefu_plugin.payments")


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    id: str
    status: str
    #: The provider answered from its idempotency record: this key had been used before.
    replayed: bool


class ProviderClient:
    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings
        #: Where refunds go: ``settings.provider_url``, or where the bundled sandbox got its port.
        self.url = settings.provider_url
        self.session: aiohttp.ClientSession | None = None
        self.headers = {"Accept": "application/json"}
        if settings.api_key:
            self.headers["Authorization"] = f"Bearer {settings.api_key}"
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout)

    def open(self, session: aiohttp.ClientSession) -> None:
        """Use the plugin's session from the host (``host.http``)."""
        self.session = session

    def close(self) -> None:
        self.session = None  # the host closes the session itself after kefu_shutdown

    async def refund(self, key: str, order_id: str, amount: str, reason: str) -> ProviderRefund:
        """POST /v1/refunds with ``Idempotency-Key``; raises ActionError with a code the agent can act on."""
        if self.session is None:
            raise _unavailable(
                "the payment provider connection is not open (the host is starting or stopping)"
            )
        url = f"{self.url}/v1/refunds"
        body = {"order_id": order_id, "amount": amount, "reason": reason}
        try:
            async with self.session.post(
                url, json=body, headers={**self.headers, "Idempotency-Key": key}, timeout=self.timeout
            ) as response:
                status, raw = response.status, await response.read()
                replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        except TimeoutError:
            # the provider may have refunded anyway; the same key makes asking again safe
            raise _unavailable(
                f"the payment provider did not answer within {self.settings.timeout:g}s; the refund "
                "may still go through: call again with the same arguments to find out"
            ) from None
        except aiohttp.ClientError as exc:
            log.warning("payment provider unreachable", url=url, error=str(exc))
            raise _unavailable("the payment provider cannot be reached right now") from None
        data = json_body(raw)
        if status in (200, 201):
            refund_id, refund_status = (
                (data.get("id"), data.get("status")) if isinstance(data, dict) else (None, None)
            )
            if not isinstance(refund_id, str) or not isinstance(refund_status, str):
                log.error("payment provider answered without a refund id or status", status=status)
                raise _unavailable("the payment provider gave an answer this plugin cannot read")
            return ProviderRefund(refund_id, refund_status, replayed)
        raise _error(status, data)


def _error(status: int, data: Any) -> ActionError:
    message = error_message(data)
    if status == 404:
        return ActionError("not_found", message or "the payment provider does not know this order")
    if status in (401, 403):
        log.error("payment provider refused the plugin's API key", status=status)
        return _unavailable(
            f"the payment provider refused the plugin's API key (HTTP {status}); tell an administrator"
        )
    if status in (400, 402, 409, 422):
        return ActionError(
            "refund_rejected", message or f"the payment provider refused the refund (HTTP {status})"
        )
    log.warning("payment provider error", status=status)
    return _unavailable(f"the payment provider answered HTTP {status}; try again")


def _unavailable(message: str) -> ActionError:
    return ActionError("payments_unavailable", message)
