"""Opaque, tamper-proof pagination cursors.

A cursor carries the position of the last item of a page (its sort key and id), the scope it
belongs to (which listing, for which caller, with which filters) and the id of the key that
signed it, signed with HMAC-SHA256 by the cursor key ring (``shared.platform.keyring``: its own
secret, not the token signing keys). A forged, truncated or foreign cursor is rejected as 422,
as the contract asks; a cursor signed by a key that was rotated out but is still in the ring
keeps working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.platform.errors import FieldError, Unprocessable
from shared.platform.keyring import KeySource

_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def invalid() -> Unprocessable:
    """The 422 a forged, truncated or foreign cursor gets."""
    return Unprocessable(
        "The cursor is not valid for this listing.",
        errors=[FieldError(loc=("query", "cursor"), msg="Invalid or foreign cursor.")],
    )


def encode(position: dict[str, Any], *, scope: str, keys: KeySource) -> str:
    """A cursor for ``position`` valid only for ``scope``, signed by the ring's current key."""
    ring = keys.load()
    payload = json.dumps(
        {"p": position, "s": scope, "k": ring.current_kid}, separators=(",", ":")
    ).encode()
    sig = hmac.new(ring.current, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return _b64(sig + payload)


def decode(cursor: str, *, scope: str, keys: KeySource) -> dict[str, Any]:
    """The position in ``cursor``; raises 422 if it was forged or minted for another scope."""
    invalid_cursor = invalid()
    try:
        raw = _unb64(cursor)
        data = json.loads(raw[_SIG_BYTES:])
    except (ValueError, TypeError):
        raise invalid_cursor from None
    kid = data.get("k") if isinstance(data, dict) else None
    key = keys.key_for(kid) if isinstance(kid, str) and 0 < len(kid) <= 64 else None
    if key is None:
        raise invalid_cursor
    sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    if len(sig) != _SIG_BYTES or not hmac.compare_digest(sig, expected):
        raise invalid_cursor
    if data.get("s") != scope or not isinstance(data.get("p"), dict):
        raise invalid_cursor
    position: dict[str, Any] = data["p"]
    return position
