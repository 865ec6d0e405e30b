"""Opaque, tamper-proof pagination cursors.

A cursor carries the position of the last item of a page (its sort key and id) and the scope it
belongs to (which listing, for which caller, with which filters), signed with HMAC-SHA256. A
forged, truncated or foreign cursor is rejected as 422, as the contract asks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.platform.errors import FieldError, Unprocessable

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


def encode(position: dict[str, Any], *, scope: str, key: bytes) -> str:
    """A cursor for ``position`` valid only for ``scope``."""
    payload = json.dumps({"p": position, "s": scope}, separators=(",", ":")).encode()
    sig = hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    return _b64(sig + payload)


def decode(cursor: str, *, scope: str, key: bytes) -> dict[str, Any]:
    """The position in ``cursor``; raises 422 if it was forged or minted for another scope."""
    invalid_cursor = invalid()
    try:
        raw = _unb64(cursor)
    except (ValueError, TypeError):
        raise invalid_cursor from None
    sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]
    if len(sig) != _SIG_BYTES or not hmac.compare_digest(sig, expected):
        raise invalid_cursor
    try:
        data = json.loads(payload)
    except ValueError:
        raise invalid_cursor from None
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("p"), dict):
        raise invalid_cursor
    position: dict[str, Any] = data["p"]
    return position
