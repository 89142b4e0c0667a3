"""Agent passwords for the console: scrypt hashes, checked in a thread, a few at a time.

A password is a secret people choose, so unlike a ``kfa_`` token (192 random bits, a fast hash is enough) it needs
a slow, memory-hard hash: scrypt (RFC 7914) from :mod:`hashlib`, stored as ``scrypt$n=..,r=..,p=..$salt$hash``
with its parameters, so they can be raised later: a hash made with weaker ones is replaced at the next sign-in.

Checking takes ~100 ms and 32 MiB, so :class:`PasswordCheck` runs it in a thread (the event loop keeps serving
everyone else) and at most ``MAX_PARALLEL`` at once, so a flood of guesses cannot take every core and all memory;
the failure guard (:mod:`kefu_host.authguard`) refuses an address that failed too often before any hashing.
An unknown name is checked against a dummy hash, so the answer takes as long as for a wrong password.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCHEME = "scrypt"
MIN_LENGTH = 8
#: Longer passwords are refused (hashing cost grows with the input only a little, but nobody needs more).
MAX_LENGTH = 1024
#: Password checks running at once in this process.
MAX_PARALLEL = 2


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = 2**15
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        return 2 * 128 * self.r * self.n * self.p + 1024 * 1024  # what scrypt needs, with room to spare

    def text(self) -> str:
        return f"n={self.n},r={self.r},p={self.p}"


CURRENT = ScryptParams()
_DKLEN = 32


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be an agent's password, or None when it can."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password may have at most {MAX_LENGTH} characters"
    if not password.strip():
        return "a password cannot be only spaces"
    return None


def hash_password(password: str, params: ScryptParams = CURRENT) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, params)
    return f"{SCHEME}${params.text()}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (False for anything malformed). Slow: call it in a thread."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    params, salt, expected = parsed
    return hmac.compare_digest(_scrypt(password, salt, params), expected)


def needs_rehash(stored: str) -> bool:
    parsed = _parse(stored)
    return parsed is None or parsed[0] != CURRENT


@functools.cache
def _dummy() -> str:
    """Checked when the name is unknown or has no password, so that answer takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


class PasswordCheck:
    """Verifies passwords off the event loop, at most :data:`MAX_PARALLEL` at a time."""

    def __init__(self, parallel: int = MAX_PARALLEL) -> None:
        self._slots = asyncio.Semaphore(parallel)

    async def verify(self, password: str, stored: str | None) -> bool:
        async with self._slots:
            if stored is None:
                await asyncio.to_thread(verify_password, password, _dummy())
                return False
            return await asyncio.to_thread(verify_password, password, stored)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_password, password)


def _scrypt(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=params.n, r=params.r, p=params.p, maxmem=params.maxmem,
                          dklen=_DKLEN)


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        return None
    try:
        fields = dict(item.split("=", 1) for item in parts[1].split(","))
        params = ScryptParams(n=int(fields["n"]), r=int(fields["r"]), p=int(fields["p"]))
        salt, digest = _unb64(parts[2]), _unb64(parts[3])
    except (KeyError, ValueError):
        return None
    if params.n < 2 or params.n & (params.n - 1) or not (1 <= params.r <= 64 and 1 <= params.p <= 16):
        return None  # not a hash this module made; refuse rather than let a row pick an absurd cost
    if params.n > 2**20 or len(digest) != _DKLEN:
        return None
    return params, salt, digest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
