"""Password hashing: argon2id with OWASP's parameters (19 MiB, t=2, p=1).

A hash made with older parameters is flagged for rehash on the next successful login. A login
for an unknown email verifies against a dummy hash, so it costs the same as one for a known email.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
MIN_LENGTH = 12
MAX_LENGTH = 128


@cache
def hasher() -> PasswordHasher:
    """The argon2id hasher with the current parameters."""
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID
    )


@cache
def _dummy_hash() -> str:
    return hasher().hash("stratus-dummy-password-for-timing")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; never store the password itself)."""
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash (unknown user) the same work is done."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when ``password_hash`` was made with other parameters than the current ones."""
    return hasher().check_needs_rehash(password_hash)
