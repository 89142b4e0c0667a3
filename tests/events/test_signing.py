"""Standard Webhooks signatures: what verifies, what does not."""

from __future__ import annotations

import time

import pytest

from kefu_host.events.signing import SignatureError, sign, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"id":"evt_1","type":"user.login"}'


def test_a_signed_body_verifies() -> None:
    assert verify(sign(SECRET, "evt_1", BODY), BODY, [SECRET]) == SECRET


def test_the_standard_webhooks_test_vector() -> None:
    # from the Standard Webhooks specification's reference implementations
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    body = b'{"test": 2432232314}'
    assert verify(headers, body, [SECRET], now=1614265330) == SECRET


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, b: (h, b + b" "), "no signature matches"),
        (lambda h, b: ({**h, "webhook-id": "evt_2"}, b), "no signature matches"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing"),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(time.time()) - 301)}, b), "more than 300 seconds"),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(time.time()) + 301)}, b), "more than 300 seconds"),
        (lambda h, b: ({**h, "webhook-timestamp": "yesterday"}, b), "not a Unix timestamp"),
        (lambda h, b: ({**h, "webhook-signature": "v2,abc"}, b), "no v1 signature"),
    ],
)
def test_tampering_is_refused(mutate: object, message: str) -> None:
    headers, body = mutate(sign(SECRET, "evt_1", BODY), BODY)  # type: ignore[operator]
    with pytest.raises(SignatureError, match=message):
        verify(headers, body, [SECRET])


def test_rotation_accepts_either_secret_and_a_request_signed_with_both() -> None:
    new = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24="
    both = sign([SECRET, new], "evt_1", BODY)
    assert len(both["webhook-signature"].split()) == 2
    assert verify(both, BODY, [new]) == new
    assert verify(sign(SECRET, "evt_1", BODY), BODY, [new, SECRET]) == SECRET
    with pytest.raises(SignatureError):
        verify(sign("whsec_b3RoZXI=", "evt_1", BODY), BODY, [new, SECRET])
