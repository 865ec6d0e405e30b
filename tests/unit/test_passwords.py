"""Password hashing: argon2id with OWASP's parameters, constant work for unknown users, rehash."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher, Type

from shared.auth import passwords

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def stored() -> str:
    return passwords.hash_password(PASSWORD)


def test_the_hash_is_argon2id_with_owasp_parameters(stored):
    # Given a hashed password
    # Then it is argon2id, 19 MiB, two passes, one lane, and never contains the password
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored


def test_the_same_password_hashes_differently_each_time(stored):
    # When the same password is hashed again
    # Then the salt makes the hash differ, and both verify
    again = passwords.hash_password(PASSWORD)
    assert again != stored
    assert passwords.verify_password(again, PASSWORD)


def test_verify_accepts_the_password_and_refuses_anything_else(stored):
    assert passwords.verify_password(stored, PASSWORD) is True
    assert passwords.verify_password(stored, PASSWORD + " ") is False
    assert passwords.verify_password(stored, PASSWORD.upper()) is False
    assert passwords.verify_password(stored, "") is False


@pytest.mark.parametrize("broken", ["", "not a hash", "$argon2id$v=19$m=19456,t=2,p=1$xx"])
def test_verify_is_false_for_a_broken_hash(broken):
    assert passwords.verify_password(broken, PASSWORD) is False


def test_verify_without_a_hash_is_false_even_for_the_dummy_password():
    # Given no stored hash (an unknown email)
    # Then nothing verifies, not even the password behind the internal dummy hash
    assert passwords.verify_password(None, PASSWORD) is False
    assert passwords.verify_password(None, "stratus-dummy-password-for-timing") is False


def _medians(*calls: Callable[[], object], runs: int = 5) -> list[float]:
    """The median duration of each call over ``runs`` rounds, interleaved so that a burst of
    load on the machine falls on all of them alike."""
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for call, times in zip(calls, samples, strict=True):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
    return [statistics.median(times) for times in samples]


def test_verify_without_a_hash_costs_the_same_as_a_real_verify(stored):
    # Given the dummy hash already made (it is made once per execution environment)
    passwords.verify_password(None, PASSWORD)

    # When an unknown user and a known user with a wrong password are verified
    unknown, known = _medians(
        lambda: passwords.verify_password(None, "wrong password"),
        lambda: passwords.verify_password(stored, "wrong password"),
    )

    # Then both take comparable time: the response time does not reveal which emails exist
    assert 0.5 <= unknown / known <= 2, (unknown, known)
    assert known > 0.005  # it really runs argon2 (about 40 ms here), not a shortcut


def test_needs_rehash_flags_a_hash_made_with_older_parameters(stored):
    # Given a hash made with one pass instead of two
    weaker = PasswordHasher(time_cost=1, memory_cost=19456, parallelism=1, type=Type.ID)
    old = weaker.hash(PASSWORD)

    # Then it needs a rehash, still verifies, and a current hash does not need one
    assert passwords.needs_rehash(old) is True
    assert passwords.verify_password(old, PASSWORD) is True
    assert passwords.needs_rehash(stored) is False


def test_needs_rehash_flags_argon2i():
    old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.I).hash(PASSWORD)
    assert passwords.needs_rehash(old) is True
