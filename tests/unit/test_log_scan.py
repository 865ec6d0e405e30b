"""The log scan of the e2e run (``tests.support.log_scan``) finds each kind of leak, and does
not cry wolf on an ordinary line."""

from __future__ import annotations

import pytest

from tests.support.api import PASSWORD
from tests.support.log_scan import leaks

ORDINARY = (
    '{"level":"INFO","message":"Record processed","correlation_id":'
    '"d3d8fcdc-9e45-4241-bcb7-da0026db81b4","key":"uploads/0a1b/9f8e","duration_ms":3.1}'
)


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("password", f'{{"message": "login", "password": "{PASSWORD}"}}'),
        ("argon2 hash", "hash=$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"),
        ("access token (JWT)", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2ln"),
        ("opaque token", "refresh_token=" + "A" * 20 + "-_" + "b" * 21),
        ("email", "user ada.lovelace+x@example.com signed up"),
        ("presigned signature", "url?X-Amz-Signature=abc&X-Amz-Credential=def"),
        ("traceback", "Traceback (most recent call last):\n  File ..."),
        ("SQL parameters", "[SQL: SELECT 1] [parameters: ('ada',)]"),
    ],
)
def test_each_kind_of_leak_is_found(kind, line):
    assert [found.split(":", 1)[0] for found in leaks([line])] == [kind]


def test_an_ordinary_line_is_no_leak():
    assert leaks([ORDINARY]) == []
