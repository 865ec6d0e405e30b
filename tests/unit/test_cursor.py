"""Pagination cursors: opaque, tamper-proof, bound to their listing."""

from __future__ import annotations

import pytest

from shared.platform import cursor
from shared.platform.errors import Unprocessable
from shared.platform.keyring import FixedRing, KeyRing

KEY = FixedRing(KeyRing(current_kid="c1", keys={"c1": b"k" * 32}))


def test_a_cursor_round_trips_within_its_scope():
    token = cursor.encode({"t": "2026-01-01T00:00:00Z", "id": "x"}, scope="docs:u1", keys=KEY)
    assert cursor.decode(token, scope="docs:u1", keys=KEY) == {
        "t": "2026-01-01T00:00:00Z",
        "id": "x",
    }


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),  # tampered payload
        lambda t: "A" + t[1:] if t[0] != "A" else "B" + t[1:],  # tampered signature
        lambda t: t[:10],  # truncated
        lambda t: "not a cursor!",  # garbage
        lambda t: "",  # empty
    ],
)
def test_a_forged_cursor_is_422(mutate):
    token = cursor.encode({"id": "x"}, scope="docs:u1", keys=KEY)
    with pytest.raises(Unprocessable) as err:
        cursor.decode(mutate(token), scope="docs:u1", keys=KEY)
    assert err.value.errors and err.value.errors[0].loc == ("query", "cursor")


def test_a_foreign_cursor_is_422():
    # Given a cursor minted for another user's listing
    token = cursor.encode({"id": "x"}, scope="docs:u2", keys=KEY)
    # Then it is refused for this one
    with pytest.raises(Unprocessable):
        cursor.decode(token, scope="docs:u1", keys=KEY)


def test_a_cursor_signed_with_another_key_is_422():
    other = FixedRing(KeyRing(current_kid="c1", keys={"c1": b"other" * 8}))
    token = cursor.encode({"id": "x"}, scope="docs:u1", keys=other)
    with pytest.raises(Unprocessable):
        cursor.decode(token, scope="docs:u1", keys=KEY)


def test_a_cursor_outlives_a_rotation_while_its_key_is_in_the_ring():
    # Given a cursor signed by c1
    token = cursor.encode({"id": "x"}, scope="docs:u1", keys=KEY)
    # When c2 becomes current, c1 kept to verify
    rotated = FixedRing(KeyRing(current_kid="c2", keys={"c1": b"k" * 32, "c2": b"n" * 32}))
    # Then the old cursor still works, and new ones are signed by c2
    assert cursor.decode(token, scope="docs:u1", keys=rotated) == {"id": "x"}
    fresh = cursor.encode({"id": "y"}, scope="docs:u1", keys=rotated)
    with pytest.raises(Unprocessable):
        cursor.decode(fresh, scope="docs:u1", keys=KEY)  # c2 is unknown to the old ring
    # And once c1 is removed, the old cursor is refused
    retired = FixedRing(KeyRing(current_kid="c2", keys={"c2": b"n" * 32}))
    with pytest.raises(Unprocessable):
        cursor.decode(token, scope="docs:u1", keys=retired)
