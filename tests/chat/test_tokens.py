"""Visitor tokens are standard JWTs with a pinned algorithm and key rotation; agent secrets hash fast."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from kefu_host.chat.tokens import (
    AgentSecretCheck,
    InvalidToken,
    SigningKey,
    VisitorTokens,
    check_identity,
    hash_secret,
    identity_hash,
    parse_agent_token,
    scrypt_hash,
)

CURRENT, OLD = "the-current-secret-0123456789", "the-previous-secret-0123456789"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"iss": "kefu-host", "aud": "kefu-visitor", "sub": "v1", "cid": 7, "uid": None,
                               "iat": 1_700_000_000, "exp": 4_000_000_000}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def signed(payload: dict[str, object], secret: str = CURRENT, algorithm: str = "HS256") -> str:
    """A token made by hand with the host's key: any algorithm, any claims."""
    key = SigningKey.from_secret(secret)
    head = _b64(json.dumps({"alg": algorithm, "typ": "JWT", "kid": key.kid}).encode())
    body = f"{head}.{_b64(json.dumps(payload).encode())}"
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[algorithm]
    return f"{body}.{_b64(hmac.new(key.key, body.encode(), digest).digest())}"


def test_a_visitor_token_is_a_jwt_naming_visitor_customer_and_expiry() -> None:
    tokens = VisitorTokens(CURRENT, ttl=3600)
    token = tokens.sign("v-1", 42, "u-9", now=1_900_000_000)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] == SigningKey.from_secret(CURRENT).kid
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload == {"iss": "kefu-host", "aud": "kefu-visitor", "sub": "v-1", "cid": 42, "uid": "u-9",
                       "iat": 1_900_000_000, "exp": 1_900_003_600}
    claims_ = VisitorTokens(CURRENT).verify(tokens.sign("v-1", 42, None))
    assert (claims_.visitor_id, claims_.customer_id, claims_.uid) == ("v-1", 42, None)


def test_during_a_rotation_previous_secrets_verify_but_only_the_current_one_signs() -> None:
    before = VisitorTokens(OLD).sign("v-1", 1, None)
    rotated = VisitorTokens(CURRENT, previous=[OLD])
    assert rotated.verify(before).visitor_id == "v-1"
    assert jwt.get_unverified_header(rotated.sign("v-2", 2, None))["kid"] == SigningKey.from_secret(CURRENT).kid
    with pytest.raises(InvalidToken, match="unknown key"):
        VisitorTokens(CURRENT).verify(before)  # the rotation is over


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (signed(claims(exp=1_700_000_001)), "expired"),
        (signed(claims(cid=...)), 'invalid visitor token: Token is missing the "cid" claim'),
        (signed(claims(exp=...)), 'invalid visitor token: Token is missing the "exp" claim'),
        (signed(claims(aud="someone-else")), "invalid visitor token: Audience doesn't match"),
        (signed(claims(iss="someone-else")), "invalid visitor token: Invalid issuer"),
        (signed(claims(cid="7")), "wrongly typed claims"),
        (signed(claims(cid=True)), "wrongly typed claims"),
        (signed(claims(), algorithm="HS512"), "invalid visitor token: The specified alg value is not allowed"),
        ("not-a-token", "malformed visitor token"),
        ("a.b.c", "malformed visitor token"),
    ],
)
def test_bad_visitor_tokens_are_refused_with_the_reason(token: str, problem: str) -> None:
    with pytest.raises(InvalidToken) as info:
        VisitorTokens(CURRENT).verify(token)
    assert problem in str(info.value)


def test_alg_none_and_tampered_tokens_are_refused() -> None:
    kid = SigningKey.from_secret(CURRENT).kid
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    unsigned = f"{header}.{_b64(json.dumps(claims(cid=1)).encode())}."
    with pytest.raises(InvalidToken, match="alg value is not allowed"):
        VisitorTokens(CURRENT).verify(unsigned)

    good = VisitorTokens(CURRENT).sign("v-1", 7, None)
    head, _, rest = good.partition(".")
    _, _, signature = rest.partition(".")
    other_customer = f"{head}.{_b64(json.dumps(claims(cid=8)).encode())}.{signature}"
    with pytest.raises(InvalidToken, match="signature does not match"):
        VisitorTokens(CURRENT).verify(other_customer)


def test_the_configured_secret_itself_does_not_sign_tokens() -> None:
    """A token signed with the raw secret string (as a naive client would) is refused: the key is derived."""
    kid = SigningKey.from_secret(CURRENT).kid
    body = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{_b64(json.dumps(claims()).encode())}"
    raw = f"{body}.{_b64(hmac.new(CURRENT.encode(), body.encode(), hashlib.sha256).digest())}"
    with pytest.raises(InvalidToken, match="signature does not match"):
        VisitorTokens(CURRENT).verify(raw)


def test_an_empty_visitor_secret_cannot_make_a_signer() -> None:
    with pytest.raises(ValueError):
        VisitorTokens("")


def test_identity_hashes_compare_safely_whatever_the_client_sends() -> None:
    good = identity_hash("id-secret", "u-1")
    assert check_identity("id-secret", "u-1", good) and check_identity("id-secret", "u-1", good.upper())
    assert not check_identity("id-secret", "u-1", "é")  # non-ASCII: refused, not a TypeError
    assert not check_identity(None, "u-1", hmac.new(b"", b"u-1", hashlib.sha256).hexdigest())


def test_agent_secrets_are_stored_as_sha256_and_malformed_tokens_refused() -> None:
    assert hash_secret("s3cret") == "sha256$" + hashlib.sha256(b"s3cret").hexdigest()
    assert parse_agent_token("kfa_12_abc") == (12, "abc")
    for token in ("kfa_²_abc", "kfa_1_", "kfb_1_abc", "kfa_" + "9" * 19 + "_abc"):
        with pytest.raises(InvalidToken):
            parse_agent_token(token)


async def test_agent_secret_checks_accept_sha256_and_legacy_scrypt_hashes() -> None:
    check = AgentSecretCheck()
    assert await check.check("s3cret", hash_secret("s3cret"))
    assert not await check.check("guess", hash_secret("s3cret"))
    legacy = scrypt_hash("s3cret")
    assert await check.check("s3cret", legacy)
    assert not await check.check("guess", legacy)
    assert not await check.check("s3cret", "scrypt$broken")
    assert not await check.check("s3cret", "md5$whatever")
