"""Forged, tampered and malformed bearer tokens, end to end: each one is a 401 problem with
``WWW-Authenticate: Bearer`` on GET /auth/me, never a 500 and never a way in.

The tests forge tokens themselves with the runner's real signing key (read from moto's Secrets
Manager), so a control test first shows that a correctly forged token IS accepted: the attacks
fail because of what they change, not because the forging is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.api import Account, bearer, login, sign_up

pytestmark = pytest.mark.e2e

PROBLEM_FIELDS = {"type", "title", "status", "detail", "request_id"}
OTHER_KEY = "another-key-of-the-same-length-but-not-the-real-one-at-all-0123"


@dataclass(frozen=True)
class Keys:
    kid: str
    key: str


@pytest.fixture(scope="module")
def keys(stack) -> Keys:
    """The runner's current signing key, as Secrets Manager holds it."""
    secrets = boto3.Session().client("secretsmanager", endpoint_url=stack.moto.endpoint)
    value = secrets.get_secret_value(SecretId=stack.provisioned.secret_arns["signing-keys"])
    data = json.loads(value["SecretString"])
    return Keys(kid=data["current"], key=data[data["current"]])


@pytest.fixture(scope="module")
def victim(stack) -> Iterator[Account]:
    """A real member whose identity the attacks borrow."""
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        yield sign_up(http)


def claims_for(account: Account, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": account.id,
        "role": "member",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 900,
        "iss": "stratus",
        "aud": "stratus-api",
        "ver": 0,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def forge(
    claims: dict[str, object], key: str | bytes, *, kid: object, algorithm: str = "HS256"
) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def b64(data: dict[str, object] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_by_hand(header: dict[str, object], claims: dict[str, object], key: str) -> str:
    """A correctly HS256-signed JWT whose header PyJWT would refuse to write."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    digest = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(digest)}"


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_FIELDS, body
    assert body["status"] == 401
    assert body["request_id"] == response.headers["x-request-id"]


# ---- the control: forging itself is right ------------------------------------------------------


@pytest.mark.parametrize("by_hand", [False, True], ids=["pyjwt", "by-hand"])
def test_a_correctly_forged_token_is_accepted(client, keys, victim, by_hand):
    # Given a token made by the test with the real key, the real kid and the user's claims
    if by_hand:
        header = {"alg": "HS256", "typ": "JWT", "kid": keys.kid}
        token = sign_by_hand(header, claims_for(victim), keys.key)
    else:
        token = forge(claims_for(victim), keys.key, kid=keys.kid)

    # When it calls /auth/me
    response = client.get("/auth/me", headers=bearer(token))

    # Then it is that user: the attacks below differ from this in one way each
    assert response.status_code == 200, response.text
    assert response.json()["id"] == victim.id


# ---- forged or malformed bearer tokens ---------------------------------------------------------

Attack = Callable[[Keys, Account], str]


def _alg_none(k: Keys, a: Account) -> str:
    return "Bearer " + jwt.encode(claims_for(a), None, algorithm="none", headers={"kid": k.kid})


def _alg_none_by_hand(alg: str) -> Attack:
    def attack(k: Keys, a: Account) -> str:
        return f"Bearer {b64({'alg': alg, 'typ': 'JWT', 'kid': k.kid})}.{b64(claims_for(a))}."

    return attack


def _hs512(k: Keys, a: Account) -> str:
    return "Bearer " + forge(claims_for(a), k.key, kid=k.kid, algorithm="HS512")


def _rs256(k: Keys, a: Account) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return "Bearer " + forge(claims_for(a), private, kid=k.kid, algorithm="RS256")


def _signed(
    *, key: str | None = None, kid: object = None, **changes: object
) -> Callable[[Keys, Account], str]:
    def attack(k: Keys, a: Account) -> str:
        return "Bearer " + forge(
            claims_for(a, **changes), key or k.key, kid=k.kid if kid is None else kid
        )

    return attack


def _tampered_role(k: Keys, a: Account) -> str:
    header, _, signature = forge(claims_for(a), k.key, kid=k.kid).split(".")
    return f"Bearer {header}.{b64(claims_for(a, role='admin'))}.{signature}"


def _no_kid(k: Keys, a: Account) -> str:
    return "Bearer " + jwt.encode(claims_for(a), k.key, algorithm="HS256")


NOW = int(time.time())

ATTACKS: dict[str, Attack] = {
    "alg-none": _alg_none,
    "alg-None-by-hand": _alg_none_by_hand("None"),
    "alg-NONE-by-hand": _alg_none_by_hand("NONE"),
    "hs512-real-key": _hs512,
    "rs256-own-key": _rs256,
    "another-key-same-kid": _signed(key=OTHER_KEY),
    "wrong-aud": _signed(aud="another-api"),
    "wrong-iss": _signed(iss="evil"),
    "expired": _signed(iat=NOW - 2000, exp=NOW - 1000),
    "expired-just-past-leeway": lambda k, a: _signed(exp=int(time.time()) - 30)(k, a),
    "no-exp": _signed(exp=None),
    "no-sub": _signed(sub=None),
    "no-jti": _signed(jti=None),
    "issued-in-the-future": lambda k, a: _signed(iat=int(time.time()) + 3600)(k, a),
    "not-before-in-the-future": lambda k, a: _signed(nbf=int(time.time()) + 3600)(k, a),
    "sub-not-a-uuid": _signed(sub="admin"),
    "sub-of-nobody": _signed(sub=str(uuid.uuid4())),
    "unknown-role": _signed(role="root"),
    "ver-from-the-future": _signed(ver=7),
    "lifetime-30-years": _signed(iat=NOW - 10, exp=NOW + 30 * 365 * 24 * 3600),
    "lifetime-over-the-ttl": _signed(iat=NOW - 10, exp=NOW - 10 + 901),
    "ver-not-a-number": _signed(ver={"$gt": 0}),
    "tampered-role-in-payload": _tampered_role,
    "unknown-kid": _signed(kid="k999"),
    "kid-path-traversal": _signed(kid="../../etc/passwd"),
    "kid-sql-injection": _signed(kid="' OR 1=1 --"),
    "kid-10000-chars": _signed(kid="k" * 10_000),
    "kid-not-a-string": lambda k, a: (
        "Bearer " + sign_by_hand({"alg": "HS256", "typ": "JWT", "kid": 1}, claims_for(a), k.key)
    ),
    "kid-a-list": lambda k, a: (
        "Bearer "
        + sign_by_hand({"alg": "HS256", "typ": "JWT", "kid": [k.kid]}, claims_for(a), k.key)
    ),
    "no-kid": _no_kid,
    "basic-auth": lambda k, a: "Basic " + base64.b64encode(b"admin:admin").decode(),
    "bearer-nothing": lambda k, a: "Bearer",
    "bearer-random": lambda k, a: "Bearer " + uuid.uuid4().hex,
    "bearer-three-dots": lambda k, a: "Bearer ...",
    "bearer-bad-base64": lambda k, a: "Bearer !!!.@@@.###",
    "bearer-header-not-an-object": lambda k, a: f"Bearer {b64(b'[1,2]')}.{b64(b'{}')}.sig",
    "random-string": lambda k, a: uuid.uuid4().hex,
    "token-without-scheme": lambda k, a: forge(claims_for(a), k.key, kid=k.kid),
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_forged_or_malformed_token_is_401(client, keys, victim, attack):
    # Given an Authorization header built by an attacker
    header = attack(keys, victim)

    # When it calls /auth/me
    response = client.get("/auth/me", headers={"Authorization": header})

    # Then 401 with WWW-Authenticate: Bearer and a problem body, never a 500
    assert_unauthorized(response)


def test_a_non_ascii_token_is_401(client):
    # When the bearer token carries bytes outside ASCII
    response = client.get("/auth/me", headers={"Authorization": b"Bearer \xff\xfe.\xe9.\x80"})

    # Then 401, not a 500
    assert_unauthorized(response)


def test_a_token_of_an_older_version_is_401_after_a_password_change(client, keys):
    # Given a user whose password changed (its token version is now 1)
    account = sign_up(client)
    changed = client.post(
        "/auth/password",
        json={"current_password": account.password, "new_password": "a new long password"},
        headers=account.headers,
    )
    assert changed.status_code == 204, changed.text

    # When a fresh, correctly signed token of version 0 is presented
    old_version = forge(claims_for(account, ver=0), keys.key, kid=keys.kid)
    response = client.get("/auth/me", headers=bearer(old_version))

    # Then 401, while the same token at the current version is accepted
    assert_unauthorized(response)
    current = forge(claims_for(account, ver=1), keys.key, kid=keys.kid)
    assert client.get("/auth/me", headers=bearer(current)).status_code == 200


def test_a_role_forged_to_admin_with_a_wrong_key_cannot_list_users(client, keys, victim):
    # Given a member's real token, which may not list users
    assert client.get("/users", headers=victim.headers).status_code == 403

    # When its role is changed to admin and it is re-signed with a key that is not the real one
    claims = jwt.decode(victim.access_token, options={"verify_signature": False})
    forged = forge({**claims, "role": "admin"}, OTHER_KEY, kid=keys.kid)
    response = client.get("/users", headers=bearer(forged))

    # Then 401 on the admin route: the forged role never reaches it
    assert_unauthorized(response)


def test_the_attacks_did_not_disturb_the_victims_session(client, victim):
    # Given all the forged tokens above, made with the victim's identity
    # When the victim uses its own session
    # Then it still works: a forged token revokes nothing
    assert client.get("/auth/me", headers=victim.headers).status_code == 200
    assert login(client, victim.email, victim.password).status_code == 200


def test_a_refresh_token_living_longer_than_the_ttl_is_refused(client):
    # Given a session whose refresh token was stored with ten years to live (the configured
    # lifetime is 30 days)
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from shared.auth.models import RefreshToken
    from shared.auth.tokens import hash_token
    from shared.platform import db

    account = sign_up(client)
    with db.session_scope() as session:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_token(account.refresh_token))
            .values(expires_at=datetime.now(UTC) + timedelta(days=3650))
        )
    # When it is presented, Then it is refused like any invalid refresh token
    refused = client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_unauthorized(refused)
    # while a fresh session still refreshes
    fresh = login(client, account.email, account.password).json()["refresh_token"]
    assert client.post("/auth/refresh", json={"refresh_token": fresh}).status_code == 200
