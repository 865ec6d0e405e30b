"""Signatures to the Standard Webhooks specification, made by its own library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def signature_header(
    *, message_id: str, timestamp: datetime, body: str, secrets: Sequence[str]
) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per secret, separated by spaces (during a
    rotation's overlap a receiver holding either secret verifies the call)."""
    from standardwebhooks import Webhook

    return " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in secrets
    )


def headers(
    *, message_id: str, timestamp: datetime, body: str, secrets: Sequence[str]
) -> dict[str, str]:
    """Every header of a delivery."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(
            message_id=message_id, timestamp=timestamp, body=body, secrets=secrets
        ),
        "content-type": "application/json",
        "user-agent": "Stratus-Webhooks/1",
    }
