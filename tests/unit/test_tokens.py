"""Access tokens, refresh tokens and signing keys, without AWS: the key set is stubbed.

``shared.auth.keys.load`` and ``key_for`` are replaced by a key ring the test controls, so
rotation is a matter of changing the ring. Every malformed or forged token must be refused with
:class:`InvalidToken` and nothing else (the authorizer turns only that into a 401).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import keys, tokens
from shared.auth.tokens import InvalidToken
from shared.platform import keyring
from shared.platform.settings import reset_settings

KEY_1 = "k1-secret-" + "a" * 54
KEY_2 = "k2-secret-" + "b" * 54
OTHER_KEY = "not-the-key-" + "c" * 52
USER_ID = str(uuid.uuid4())


@dataclass
class StubRing:
    """The stubbed Secrets Manager value: change ``keyset`` to rotate."""

    keyset: keyring.KeyRing
    asked: list[str] = field(default_factory=list)

    def load(self, *, force: bool = False) -> keyring.KeyRing:
        return self.keyset

    def key_for(self, kid: str) -> bytes | None:
        self.asked.append(kid)
        return self.keyset.keys.get(kid)


def keyset(current: str, **named: str) -> keyring.KeyRing:
    return keyring.KeyRing(current_kid=current, keys={k: v.encode() for k, v in named.items()})


@pytest.fixture
def ring(monkeypatch) -> Iterator[StubRing]:
    ring = StubRing(keyset("k1", k1=KEY_1))
    monkeypatch.setenv("SIGNING_KEYS_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:0:secret:k")
    for name in ("ACCESS_TOKEN_TTL_SECONDS", "TOKEN_ISSUER", "TOKEN_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(keys, "load", ring.load)
    monkeypatch.setattr(keys, "key_for", ring.key_for)
    reset_settings()
    yield ring
    reset_settings()


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": USER_ID,
        "role": "member",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 900,
        "iss": "stratus",
        "aud": "stratus-api",
        "ver": 0,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict[str, object] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(key: str = KEY_1, *, kid: object = "k1", alg: str = "HS256", **changes: object) -> str:
    return jwt.encode(claims(**changes), key, algorithm=alg, headers={"kid": kid})


def by_hand(header: dict[str, object], payload: str, key: str = KEY_1) -> str:
    """An HS256 signature over any header and raw payload text, however odd."""
    signing_input = f"{b64(header)}.{b64(payload.encode())}"
    digest = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(digest)}"


# ---- issue and verify --------------------------------------------------------------------------


def test_an_issued_token_round_trips(ring):
    # When a token is issued for a user
    token, expires_in = tokens.issue_access_token(user_id=USER_ID, role="viewer", version=3)

    # Then it verifies to the same user, role and version, lives 15 minutes, and says so
    verified = tokens.verify_access_token(token)
    assert verified.user_id == USER_ID
    assert verified.role == "viewer"
    assert verified.version == 3
    assert expires_in == 900
    assert verified.expires_at - verified.issued_at == 900
    assert abs(verified.issued_at - time.time()) < 5
    # And it is an HS256 JWT with the current kid and the contract's claims
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    raw = jwt.decode(token, KEY_1, algorithms=["HS256"], audience="stratus-api")
    assert set(raw) == {"sub", "role", "jti", "iat", "exp", "iss", "aud", "ver"}
    assert raw["iss"] == "stratus"
    assert raw["jti"] == verified.jti


def test_every_token_has_its_own_jti(ring):
    # When two tokens are issued for the same user in the same second
    first, _ = tokens.issue_access_token(user_id=USER_ID, role="member", version=0)
    second, _ = tokens.issue_access_token(user_id=USER_ID, role="member", version=0)

    # Then their ids differ (logout revokes one jti, not the other)
    assert tokens.verify_access_token(first).jti != tokens.verify_access_token(second).jti


def test_the_lifetime_follows_the_setting(ring, monkeypatch):
    # Given ACCESS_TOKEN_TTL_SECONDS=120
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "120")
    reset_settings()

    # When a token is issued
    token, expires_in = tokens.issue_access_token(user_id=USER_ID, role="member", version=0)

    # Then it lives two minutes
    verified = tokens.verify_access_token(token)
    assert expires_in == 120
    assert verified.expires_at - verified.issued_at == 120


# ---- rotation ----------------------------------------------------------------------------------


def test_rotation_keeps_old_tokens_valid_until_their_kid_is_removed(ring):
    # Given a token signed with k1
    old, _ = tokens.issue_access_token(user_id=USER_ID, role="member", version=0)

    # When k2 becomes current, k1 still present
    ring.keyset = keyset("k2", k1=KEY_1, k2=KEY_2)
    new, _ = tokens.issue_access_token(user_id=USER_ID, role="member", version=0)

    # Then the old token still verifies, and new tokens are signed with k2
    assert tokens.verify_access_token(old).user_id == USER_ID
    assert jwt.get_unverified_header(new)["kid"] == "k2"
    assert tokens.verify_access_token(new).user_id == USER_ID

    # When k1 is removed
    ring.keyset = keyset("k2", k2=KEY_2)

    # Then the old token is refused, the new one is not
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(old)
    assert tokens.verify_access_token(new).user_id == USER_ID


def test_a_token_is_checked_against_its_own_kids_key_only(ring):
    # Given two keys in the set
    ring.keyset = keyset("k2", k1=KEY_1, k2=KEY_2)

    # When a token signed with k2's key claims to be k1
    # Then it is refused
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(signed(KEY_2, kid="k1"))
    assert tokens.verify_access_token(signed(KEY_2, kid="k2")).user_id == USER_ID


# ---- keyring.parse -----------------------------------------------------------------------------


def test_parse_reads_the_current_kid_and_every_usable_key():
    # Given a secret with a current kid, an older kid and a kid whose key is too short
    secret = json.dumps({"current": "k2", "k2": KEY_2, "k1": KEY_1, "k0": "short"})

    # When it is parsed
    parsed = keyring.parse(secret)

    # Then the current key is k2's, k1 is kept for verification and the short one is dropped
    assert parsed.current_kid == "k2"
    assert parsed.current == KEY_2.encode()
    assert set(parsed.keys) == {"k1", "k2"}


@pytest.mark.parametrize(
    "secret",
    [
        json.dumps({"k1": KEY_1}),
        json.dumps({"current": None, "k1": KEY_1}),
        json.dumps({"current": 1, "1": KEY_1}),
        json.dumps({"current": "k2", "k1": KEY_1}),
        json.dumps({"current": "k1", "k1": "a" * 31}),
        json.dumps({"current": "k1", "k1": 12345678901234567890123456789012345}),
        json.dumps(["current", "k1"]),
        json.dumps("k1"),
        "not json",
    ],
    ids=[
        "no-current",
        "current-null",
        "current-not-a-string",
        "current-kid-absent",
        "short-key-31",
        "key-not-a-string",
        "a-list",
        "a-string",
        "not-json",
    ],
)
def test_parse_refuses_a_secret_without_a_usable_current_key(secret):
    # When a secret without a usable current key is parsed
    # Then it is refused
    with pytest.raises(ValueError, match=r"."):
        keyring.parse(secret)


def test_parse_accepts_a_key_of_exactly_32_characters():
    assert keyring.parse(json.dumps({"current": "k1", "k1": "a" * 32})).current == b"a" * 32


def test_a_new_secret_parses_with_a_strong_key():
    # When the runner's seed secret is made
    parsed = keyring.parse(keyring.new_secret("k7"))

    # Then its current kid has a long random key, different each time
    assert parsed.current_kid == "k7"
    assert len(parsed.current) >= 64
    assert keyring.parse(keyring.new_secret("k7")).current != parsed.current


# ---- verify refuses everything else ------------------------------------------------------------

NOW = int(time.time())


def _rs256() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "k1"})


def _tampered() -> str:
    header, _, signature = signed().split(".")
    return f"{header}.{b64(claims(role='admin'))}.{signature}"


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "alg-none": lambda: jwt.encode(claims(), None, algorithm="none", headers={"kid": "k1"}),
    "alg-none-by-hand": lambda: f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}.",
    "alg-None-with-signature": lambda: by_hand({"alg": "None", "kid": "k1"}, json.dumps(claims())),
    "hs512": lambda: signed(alg="HS512"),
    "hs384": lambda: signed(alg="HS384"),
    "rs256": _rs256,
    "another-key": lambda: signed(OTHER_KEY),
    "wrong-aud": lambda: signed(aud="another-api"),
    "aud-list-without-ours": lambda: signed(aud=["a", "b"]),
    "wrong-iss": lambda: signed(iss="evil"),
    "expired": lambda: signed(iat=NOW - 2000, exp=NOW - 1000),
    "expired-past-leeway": lambda: signed(exp=int(time.time()) - 10),
    "no-exp": lambda: signed(exp=None),
    "no-iat": lambda: signed(iat=None),
    "no-sub": lambda: signed(sub=None),
    "no-jti": lambda: signed(jti=None),
    "no-iss": lambda: signed(iss=None),
    "no-aud": lambda: signed(aud=None),
    "iat-in-the-future": lambda: signed(iat=int(time.time()) + 3600),
    "iat-in-the-future-within-a-ttl": lambda: signed(
        iat=int(time.time()) + 60, exp=int(time.time()) + 900
    ),
    "lifetime-30-years": lambda: signed(iat=NOW - 10, exp=NOW + 30 * 365 * 24 * 3600),
    "lifetime-one-second-over-the-ttl": lambda: signed(iat=NOW - 10, exp=NOW - 10 + 901),
    "nbf-in-the-future": lambda: signed(nbf=int(time.time()) + 3600),
    "exp-not-a-number": lambda: signed(exp="tomorrow"),
    "sub-not-a-uuid": lambda: signed(sub="admin"),
    "sub-a-number": lambda: signed(sub=42),
    "unknown-role": lambda: signed(role="root"),
    "no-role": lambda: signed(role=None),
    "ver-not-a-number": lambda: signed(ver="one"),
    "ver-an-object": lambda: signed(ver={"$gt": 0}),
    "ver-nan": lambda: by_hand(
        {"alg": "HS256", "typ": "JWT", "kid": "k1"}, json.dumps(claims())[:-1] + ', "ver": NaN}'
    ),
    "tampered-payload": _tampered,
    "unknown-kid": lambda: signed(kid="k999"),
    "kid-path-traversal": lambda: signed(kid="../../etc/passwd"),
    "kid-sql-injection": lambda: signed(kid="' OR 1=1 --"),
    "kid-10000-chars": lambda: signed(kid="k" * 10_000),
    "kid-empty": lambda: signed(kid=""),
    "kid-not-a-string": lambda: by_hand({"alg": "HS256", "kid": 1}, json.dumps(claims())),
    "no-kid": lambda: jwt.encode(claims(), KEY_1, algorithm="HS256"),
    "no-alg": lambda: by_hand({"kid": "k1"}, json.dumps(claims())),
    "header-not-an-object": lambda: f"{b64(b'[1]')}.{b64(claims())}.c2ln",
    "payload-not-an-object": lambda: by_hand({"alg": "HS256", "kid": "k1"}, "[1, 2]"),
    "payload-not-json": lambda: by_hand({"alg": "HS256", "kid": "k1"}, "{not json"),
    "empty": lambda: "",
    "random": lambda: uuid.uuid4().hex,
    "dots": lambda: "...",
    "two-segments": lambda: signed().rsplit(".", 1)[0],
    "four-segments": lambda: signed() + ".extra",
    "bad-base64": lambda: "!!!.@@@.###",
    "non-ascii": lambda: "\xff\xfe.\xe9.\x80",
    "signature-stripped": lambda: signed().rsplit(".", 1)[0] + ".",
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_verify_refuses_a_bad_token_with_invalid_token_only(ring, make):
    # Given a malformed, forged or unacceptable token
    token = make()

    # When it is verified
    # Then InvalidToken is raised: no other error type (the authorizer maps only it to 401)
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(token)


def test_the_control_token_of_the_bad_ones_is_accepted(ring):
    # Given a token built like the bad ones, but with nothing wrong
    # Then it verifies: each bad token fails for its one defect
    assert tokens.verify_access_token(signed()).user_id == USER_ID
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert tokens.verify_access_token(by_hand(header, json.dumps(claims()))).version == 0


def test_an_oversized_kid_never_reaches_the_key_store(ring):
    # When a token carries a kid of 10 000 characters
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(signed(kid="k" * 10_000))

    # Then no key lookup (which may refetch from Secrets Manager) was made for it
    assert ring.asked == []


def test_a_correctly_signed_token_with_an_overflowing_ver_is_invalid_token(ring):
    # Given a correctly signed token whose ver is 1e400 (JSON's infinity)
    token = by_hand({"alg": "HS256", "typ": "JWT", "kid": "k1"}, json.dumps(claims(ver=1e400)))

    # When it is verified
    # Then InvalidToken, as for any other malformed claim
    with pytest.raises(InvalidToken):
        tokens.verify_access_token(token)


# ---- refresh tokens ----------------------------------------------------------------------------


def test_refresh_tokens_are_random_and_stored_as_sha256():
    # When two refresh tokens are made
    first, second = tokens.new_refresh_token(), tokens.new_refresh_token()

    # Then they differ, carry 256 bits, and their stored form is the hex SHA-256, never the token
    assert first != second
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    stored = tokens.hash_token(first)
    assert stored == hashlib.sha256(first.encode()).hexdigest()
    assert stored != first
    assert tokens.hash_token(first) == stored
    assert tokens.hash_token(second) != stored
