"""Agent passwords: salted scrypt with its parameters in the hash, checked in a thread, a few at a time."""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from kefu_host.chat import passwords
from kefu_host.chat.passwords import (
    CURRENT,
    PasswordCheck,
    ScryptParams,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)


def test_a_hash_names_scrypt_and_its_parameters_and_is_salted() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    scheme, params, _salt, _digest = first.split("$")
    assert scheme == "scrypt" and params == f"n={CURRENT.n},r={CURRENT.r},p={CURRENT.p}"
    assert CURRENT.n >= 2**15 and CURRENT.r == 8  # 32 MiB per check: memory-hard, not a fast hash
    assert first != second  # a salt of its own each time
    assert "correct horse" not in first


def test_the_right_password_verifies_and_others_do_not() -> None:
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("Correct horse", stored)
    assert not verify_password("", stored)


@pytest.mark.parametrize("stored", [
    "", "sha256$abc", "scrypt$n=16384,r=8,p=1$salt", "scrypt$n=3,r=8,p=1$c2FsdA$ZGlnZXN0",
    "scrypt$n=1073741824,r=8,p=1$c2FsdA$" + "A" * 43, "scrypt$r=8,p=1$c2FsdA$ZGlnZXN0", "scrypt$n=x,r=8,p=1$a$b",
])  # fmt: skip
def test_a_malformed_or_absurd_hash_verifies_nothing(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_a_hash_made_with_weaker_parameters_is_due_for_a_rehash() -> None:
    assert not needs_rehash(hash_password("correct horse"))
    weak = hash_password("correct horse", ScryptParams(n=2**10, r=8, p=1))
    assert verify_password("correct horse", weak)  # still signs in ...
    assert needs_rehash(weak)  # ... and is then replaced


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "at least 8"), (" " * 12, "only spaces"), ("x" * 1025, "at most 1024"), ("long enough", None),
])  # fmt: skip
def test_the_password_policy(password: str, problem: str | None) -> None:
    found = password_problem(password)
    assert (found is None) if problem is None else (found is not None and problem in found)


async def test_checks_run_off_the_event_loop_and_at_most_two_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check blocks its thread until the test lets it go: on the loop's thread this test could not go on."""
    loop_thread = threading.get_ident()
    entered: list[int] = []
    release = threading.Event()
    running = threading.Semaphore(0)

    def blocking_verify(password: str, stored: str) -> bool:
        entered.append(threading.get_ident())
        running.release()
        release.wait(10)
        return password == "right"

    monkeypatch.setattr(passwords, "verify_password", blocking_verify)
    check = PasswordCheck()
    tasks = [asyncio.create_task(check.verify(p, "stored")) for p in ("right", "wrong", "right")]
    for _ in range(2):  # two checks start, each in a thread of its own ...
        assert await asyncio.to_thread(running.acquire, True, 10)
    assert not await asyncio.to_thread(running.acquire, True, 0.2)  # ... the third waits for a slot
    assert len(entered) == 2 and loop_thread not in entered
    release.set()
    assert await asyncio.gather(*tasks) == [True, False, True]
    assert len(entered) == 3


async def test_an_unknown_name_costs_a_real_check_and_never_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = passwords.verify_password

    def spy(password: str, stored: str) -> bool:
        seen.append(stored)
        return real(password, stored)

    monkeypatch.setattr(passwords, "verify_password", spy)
    assert await PasswordCheck().verify("whatever it is", None) is False
    assert len(seen) == 1 and seen[0].startswith("scrypt$")  # the dummy hash, checked like a real one


def test_the_hash_is_hashlib_scrypt_as_rfc_7914_defines_it() -> None:
    """The stored digest is plain scrypt of the password with the stored salt (anyone can check it elsewhere)."""
    stored = hash_password("pässwörd 密码", ScryptParams(n=2**10, r=8, p=1))
    _, _, salt, digest = stored.split("$")
    decode = passwords._unb64
    expected = hashlib.scrypt("pässwörd 密码".encode(), salt=decode(salt), n=2**10, r=8, p=1, dklen=32)
    assert decode(digest) == expected
