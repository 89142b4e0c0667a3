"""Webhook signatures in the Standard Webhooks scheme (https://www.standardwebhooks.com), both directions.

A request carries three headers::

    webhook-id: evt_2Y...                     # unique per message; the event id
    webhook-timestamp: 1732612345             # Unix seconds when it was sent
    webhook-signature: v1,K5oZfzN95Z9UVu1E...  # one or more space-separated "v1,<base64 HMAC-SHA256>"

The signature is HMAC-SHA256 over ``f"{id}.{timestamp}.{body}"`` keyed with the secret. Secrets look like
``whsec_<base64 key>``; anything else is used as raw UTF-8 bytes. During a rotation the sender signs with both the
old and the new secret and the receiver accepts either.

Integrators: :func:`sign` produces the headers for a body; :func:`verify` checks them. Both are plain functions with
no dependency on the rest of the host, so they can be copied into a sender.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The request is not signed by any accepted secret (or too old, or from the future)."""


@functools.lru_cache(maxsize=256)
def secret_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


@functools.lru_cache(maxsize=256)
def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(secret_key(secret), digestmod=hashlib.sha256)


def signature(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message with one secret."""
    # A copy of the keyed state rather than hmac.digest(): that one looks the algorithm up in OpenSSL and lets go of
    # the GIL on every call, so on a busy host each signature check would hand the event loop to another thread.
    mac = _keyed(secret).copy()
    mac.update(f"{msg_id}.{timestamp}.".encode("utf-8", "surrogateescape"))  # header bytes that are not UTF-8 too
    mac.update(body)
    return "v1," + base64.b64encode(mac.digest()).decode()


def sign(secrets: str | Iterable[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers for sending ``body``: signed with every secret given (several during a rotation)."""
    ts = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(signature(s, msg_id, ts, body) for s in keys),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[str],
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check the headers against ``secrets``; returns the secret that matched. Raises :class:`SignatureError`."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature")
    if not msg_id or not timestamp or not given:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 19:  # int() also reads "²", " 1", "1_0"
        raise SignatureError("webhook-timestamp is not a Unix timestamp")
    ts = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise SignatureError(f"webhook-timestamp is more than {tolerance} seconds away from now")
    candidates = [part for part in given.split() if part.startswith("v1,")]
    if not candidates:
        raise SignatureError("webhook-signature has no v1 signature")
    given_bytes = [c.encode("utf-8", "surrogateescape") for c in candidates]  # compare_digest refuses non-ASCII str
    for secret in secrets:
        expected = signature(secret, msg_id, ts, body).encode()
        for candidate in given_bytes:
            if hmac.compare_digest(expected, candidate):
                return secret
    raise SignatureError("no signature matches an accepted secret")
