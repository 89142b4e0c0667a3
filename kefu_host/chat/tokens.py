"""Credentials: signed visitor tokens, identity verification, agent tokens.

* A visitor token is a JWT (RFC 7519) signed with HS256, naming the visitor (``sub``) and the customer (``cid``),
  with ``iss``, ``aud``, ``iat`` and ``exp``, all required. Its header's ``kid`` names the secret that signed it:
  ``secrets.visitor_token`` signs, it and every ``secrets.visitor_token_previous`` verify, so a rotation never logs
  visitors out. Only HS256 is accepted (no ``none``, no other algorithm). The HMAC key is derived from the
  configured secret (HMAC-SHA256 of a fixed label), so the configured string itself signs nothing else.
* Identity verification (as Chatwoot and Intercom do it): the company's backend gives the widget
  ``user_hash = hex(HMAC-SHA256(secrets.identity, user_id))``; without it nobody can claim a user id and read that
  customer's history.
* An agent token is ``kfa_<agent id>_<secret>`` with 192 random bits in the secret; the database keeps only
  ``sha256$<hex SHA-256 of the secret>``. A fast hash is enough for a secret nobody can guess, and it makes a failed
  guess cost microseconds instead of scrypt's 50 ms. Hashes from earlier versions (``scrypt$...``) still verify,
  one at a time in a thread, and are replaced by the SHA-256 form at the agent's next login.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import jwt

VISITOR_TOKEN_TTL = 30 * 24 * 3600
VISITOR_ALGORITHM = "HS256"
VISITOR_ISSUER = "kefu-host"
VISITOR_AUDIENCE = "kefu-visitor"
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "cid", "iat", "exp"]
AGENT_HASH_SCHEME = "sha256$"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class InvalidToken(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    visitor_id: str
    customer_id: int
    uid: str | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A visitor-token key: its ``kid`` and the HMAC key derived from the configured secret."""

    kid: str
    key: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> SigningKey:
        raw = secret.encode()
        kid = hmac.new(raw, b"kefu-host visitor token key id", hashlib.sha256).digest()[:9]
        return cls(kid=_b64(kid), key=hmac.new(raw, b"kefu-host visitor token v1", hashlib.sha256).digest())


class VisitorTokens:
    """Signs visitor tokens with the current secret and verifies them with it or any previous one."""

    def __init__(self, current: str, previous: Sequence[str] = (), ttl: int = VISITOR_TOKEN_TTL) -> None:
        if not current:
            raise ValueError("a visitor-token secret cannot be empty")
        self.signer = SigningKey.from_secret(current)
        self.keys = {k.kid: k for k in (SigningKey.from_secret(s) for s in reversed(previous) if s)}
        self.keys[self.signer.kid] = self.signer
        self.ttl = ttl

    def sign(self, visitor_id: str, customer_id: int, uid: str | None, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {"iss": VISITOR_ISSUER, "aud": VISITOR_AUDIENCE, "sub": visitor_id, "cid": customer_id, "uid": uid,
                  "iat": issued, "exp": issued + self.ttl}
        return jwt.encode(claims, self.signer.key, algorithm=VISITOR_ALGORITHM, headers={"kid": self.signer.kid})

    def verify(self, token: str) -> VisitorClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed visitor token") from None
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("visitor token is signed with an unknown key")
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[VISITOR_ALGORITHM], audience=VISITOR_AUDIENCE, issuer=VISITOR_ISSUER,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("visitor token expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("visitor token signature does not match") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid visitor token: {exc}") from None
        visitor_id, customer_id, uid = claims["sub"], claims["cid"], claims.get("uid")
        if (not isinstance(visitor_id, str) or not isinstance(customer_id, int) or isinstance(customer_id, bool)
                or not (uid is None or isinstance(uid, str))):
            raise InvalidToken("invalid visitor token: wrongly typed claims")
        return VisitorClaims(visitor_id=visitor_id, customer_id=customer_id, uid=uid, expires_at=int(claims["exp"]))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def identity_hash(secret: str, user_id: str) -> str:
    """What the company's backend computes for a logged-in user: hex HMAC-SHA256(identity secret, user id)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_identity(secret: str | None, user_id: str, user_hash: str) -> bool:
    # bytes on both sides: compare_digest refuses a str with non-ASCII characters
    return bool(secret) and hmac.compare_digest(identity_hash(secret or "", user_id).encode(),
                                                user_hash.lower().encode("utf-8", "replace"))


def new_agent_secret() -> str:
    return secrets.token_urlsafe(24)


def agent_token(agent_id: int, secret: str) -> str:
    return f"kfa_{agent_id}_{secret}"


def parse_agent_token(token: str) -> tuple[int, str]:
    prefix, _, rest = token.partition("_")
    agent_id, _, secret = rest.partition("_")
    if prefix != "kfa" or not (agent_id.isascii() and agent_id.isdigit()) or len(agent_id) > 18 or not secret:
        raise InvalidToken("malformed agent token")
    return int(agent_id), secret


def hash_secret(secret: str) -> str:
    """The stored form of an agent secret. Deterministic: every process computes the same hash for one secret."""
    return AGENT_HASH_SCHEME + hashlib.sha256(secret.encode()).hexdigest()


def scrypt_hash(secret: str) -> str:
    """The hash earlier versions stored (kept to verify them, and for tests of the upgrade)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_b64(salt)}${_b64(digest)}"


def is_legacy_hash(stored: str) -> bool:
    return stored.startswith("scrypt$")


def _verify_scrypt(secret: str, stored: str) -> bool:
    _, _, rest = stored.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    if not salt_text or not digest_text:
        return False
    try:
        salt, expected = _unb64(salt_text), _unb64(digest_text)
    except ValueError:
        return False
    return hmac.compare_digest(hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT), expected)


class AgentSecretCheck:
    """Checks an agent secret against its stored hash; no answer is remembered, so a new token takes effect at once.

    Legacy scrypt hashes are checked in a thread, one at a time, so guesses against them cannot take every core.
    """

    def __init__(self) -> None:
        self._legacy = asyncio.Semaphore(1)

    async def check(self, secret: str, stored: str) -> bool:
        if stored.startswith(AGENT_HASH_SCHEME):
            return hmac.compare_digest(hash_secret(secret).encode(), stored.encode())
        if is_legacy_hash(stored):
            async with self._legacy:
                return await asyncio.to_thread(_verify_scrypt, secret, stored)
        return False
