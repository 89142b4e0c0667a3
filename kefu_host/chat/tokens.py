"""Credentials: signed visitor tokens, identity verification, agent tokens.

* A visitor token is ``base64url(json claims) "." base64url(HMAC-SHA256(secrets.visitor_token, claims))``; it names
  the visitor and the customer and expires.
* Identity verification (as Chatwoot and Intercom do it): the company's backend gives the widget
  ``user_hash = hex(HMAC-SHA256(secrets.identity, user_id))``; without it nobody can claim a user id and read that
  customer's history.
* An agent token is ``kfa_<agent id>_<secret>``; only a scrypt hash of the secret is stored, and successful checks
  are remembered for the process lifetime (by a SHA-256 of the token) so reconnect storms stay cheap.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

from kefu_host.inputs import ID_RANGE, BadInput, parse_int, same_secret

VISITOR_TOKEN_TTL = 30 * 24 * 3600
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class InvalidToken(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    visitor_id: str
    customer_id: int
    uid: str | None
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_visitor(secret: str, visitor_id: str, customer_id: int, uid: str | None, ttl: int = VISITOR_TOKEN_TTL) -> str:
    claims = {"v": visitor_id, "c": customer_id, "u": uid, "exp": int(time.time()) + ttl}
    body = _b64(orjson.dumps(claims))
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify_visitor(secret: str, token: str, now: float | None = None) -> VisitorClaims:
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac:
        raise InvalidToken("malformed visitor token")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
        claims = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidToken("malformed visitor token") from None
    if not hmac.compare_digest(given, expected):
        raise InvalidToken("visitor token signature does not match")
    if claims.get("exp", 0) < (now if now is not None else time.time()):
        raise InvalidToken("visitor token expired")
    return VisitorClaims(visitor_id=claims["v"], customer_id=claims["c"], uid=claims.get("u"), expires_at=claims["exp"])


def identity_hash(secret: str, user_id: str) -> str:
    """What the company's backend computes for a logged-in user: hex HMAC-SHA256(identity secret, user id)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_identity(secret: str, user_id: str, user_hash: str) -> bool:
    return bool(secret) and same_secret(user_hash.lower(), identity_hash(secret, user_id))


def new_agent_secret() -> str:
    return secrets.token_urlsafe(24)


def agent_token(agent_id: int, secret: str) -> str:
    return f"kfa_{agent_id}_{secret}"


def parse_agent_token(token: str) -> tuple[int, str]:
    prefix, _, rest = token.partition("_")
    agent_id, _, secret = rest.partition("_")
    if prefix != "kfa" or not secret:
        raise InvalidToken("malformed agent token")
    try:
        return parse_int(agent_id, "agent id", ID_RANGE), secret
    except BadInput:
        raise InvalidToken("malformed agent token") from None


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if scheme != "scrypt" or not salt_text or not digest_text:
        return False
    digest = hashlib.scrypt(secret.encode(), salt=_unb64(salt_text), **_SCRYPT)
    return hmac.compare_digest(digest, _unb64(digest_text))


class AgentTokenCache:
    """Remembers tokens already verified, keyed by their SHA-256, until the agent's hash changes."""

    def __init__(self) -> None:
        self._ok: dict[bytes, tuple[int, str]] = {}

    async def check(self, token: str, agent_id: int, stored_hash: str) -> bool:
        key = hashlib.sha256(token.encode()).digest()
        if self._ok.get(key) == (agent_id, stored_hash):
            return True
        _, secret = parse_agent_token(token)
        if await asyncio.to_thread(verify_secret, secret, stored_hash):  # scrypt is slow on purpose
            self._ok[key] = (agent_id, stored_hash)
            return True
        return False
