"""Pagination cursors: opaque, tamper-proof, bound to their listing."""

from __future__ import annotations

import pytest

from shared.platform import cursor
from shared.platform.errors import Unprocessable

KEY = b"k" * 32


def test_a_cursor_round_trips_within_its_scope():
    token = cursor.encode({"t": "2026-01-01T00:00:00Z", "id": "x"}, scope="docs:u1", key=KEY)
    assert cursor.decode(token, scope="docs:u1", key=KEY) == {
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
    token = cursor.encode({"id": "x"}, scope="docs:u1", key=KEY)
    with pytest.raises(Unprocessable) as err:
        cursor.decode(mutate(token), scope="docs:u1", key=KEY)
    assert err.value.errors and err.value.errors[0].loc == ("query", "cursor")


def test_a_foreign_cursor_is_422():
    # Given a cursor minted for another user's listing
    token = cursor.encode({"id": "x"}, scope="docs:u2", key=KEY)
    # Then it is refused for this one
    with pytest.raises(Unprocessable):
        cursor.decode(token, scope="docs:u1", key=KEY)


def test_a_cursor_signed_with_another_key_is_422():
    token = cursor.encode({"id": "x"}, scope="docs:u1", key=b"other" * 8)
    with pytest.raises(Unprocessable):
        cursor.decode(token, scope="docs:u1", key=KEY)
