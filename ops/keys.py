"""Rotate a key ring (``shared.platform.keyring``): the token signing keys or the cursor keys.

``rotate`` adds a new key and makes it current; what the old keys signed stays valid, since
verifiers accept every kid in the ring. ``retire`` removes every kid but the current one: run it
once the longest-lived thing the old keys signed has expired (an access token: 15 minutes; a
cursor: as long as a client keeps a page open, so wait a day). The functions pick a new value up
within the secret's cache age (``SIGNING_KEYS_MAX_AGE`` / ``CURSOR_KEYS_MAX_AGE``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from infra import outputs
from ops.target import OpsError, Target
from shared.platform.keyring import parse, rotated

#: The rings, by the name a verb takes, and the declared secret holding each.
RINGS = {"signing": "signing-keys", "cursor": "cursor-keys"}


@dataclass(frozen=True)
class Rotation:
    ring: str
    previous_kid: str
    current_kid: str
    kids: tuple[str, ...]


def _secret(target: Target, ring: str) -> str:
    if ring not in RINGS:
        raise OpsError(f"unknown key ring {ring!r}: use one of {', '.join(RINGS)}")
    return target.output(outputs.secret_arn(RINGS[ring]))


def _read(target: Target, secret_id: str) -> str:
    value: str = target.client("secretsmanager").get_secret_value(SecretId=secret_id)[
        "SecretString"
    ]
    return value


def rotate(target: Target, ring: str) -> Rotation:
    secret_id = _secret(target, ring)
    before = _read(target, secret_id)
    after = rotated(before)
    target.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=after)
    old, new = parse(before), parse(after)
    return Rotation(ring, old.current_kid, new.current_kid, tuple(sorted(new.keys)))


def retire(target: Target, ring: str) -> Rotation:
    """Keep only the current key: what the others signed stops verifying."""
    secret_id = _secret(target, ring)
    current = parse(_read(target, secret_id))
    kept = {"current": current.current_kid, current.current_kid: current.current.decode()}
    target.client("secretsmanager").put_secret_value(
        SecretId=secret_id, SecretString=json.dumps(kept)
    )
    return Rotation(ring, current.current_kid, current.current_kid, (current.current_kid,))
