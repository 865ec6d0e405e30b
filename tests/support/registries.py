"""Registries built from handler files written in a temporary folder, for tests that need
functions other than the real ones (the CDK app, the local runner)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from functions import resources
from functions.registry import Registry, discover
from shared.platform.declare import Bucket, Secret


def make_registry(
    tmp_path: Path,
    files: dict[str, str],
    *,
    buckets: tuple[Bucket, ...] = resources.BUCKETS,
    secrets: tuple[Secret, ...] = resources.SECRETS,
) -> Registry:
    """The registry of ``files``, written under ``tmp_path/functions``.

    Keys are ``"<service>/<name>"`` (the source becomes that folder's ``handler.py``) or paths
    ending in ``.py`` relative to the functions root; sources are dedented. Module names are
    derived from the root, so each ``tmp_path`` gets fresh modules.
    """
    root = tmp_path / "functions"
    for key, source in files.items():
        path = root / (key if key.endswith(".py") else f"{key}/handler.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
    return discover(root, buckets=buckets, secrets=secrets)


#: A TOKEN authorizer (results cached 300 s) that lets every caller in, as an admin.
ALLOW_ALL_AUTHORIZER = """
from typing import Any

from shared.platform.declare import AuthorizerTrigger, Function

USER_ID = "00000000-0000-0000-0000-000000000001"


class AllowAll(Function):
    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {
            "principalId": USER_ID,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}
                ],
            },
            "context": {"sub": USER_ID, "role": "admin"},
        }


function = AllowAll(trigger=AuthorizerTrigger(result_ttl_seconds=300))
handler = function.handler
"""


#: The user every token of ROLE_AUTHORIZER stands for.
ROLE_USER = "00000000-0000-4000-8000-0000000000aa"

#: An authorizer for runner tests: "Bearer <role>" lets that role in, "Bearer deny" gets a
#: Deny policy, anything else a 401.
ROLE_AUTHORIZER = f'''
from typing import Any

from shared.platform.declare import AuthorizerTrigger, Function


class TestAuthorizer(Function):
    """Token "Bearer <role>" lets that role in; "Bearer deny" gets a Deny policy."""

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        token = event["authorizationToken"].removeprefix("Bearer ")
        if token not in {{"admin", "member", "deny"}}:
            raise Exception("Unauthorized")
        effect = "Deny" if token == "deny" else "Allow"
        return {{
            "principalId": "{ROLE_USER}",
            "policyDocument": {{
                "Version": "2012-10-17",
                "Statement": [
                    {{"Action": "execute-api:Invoke", "Effect": effect, "Resource": "*"}}
                ],
            }},
            "context": {{"sub": "{ROLE_USER}", "role": token}},
        }}


function = TestAuthorizer(trigger=AuthorizerTrigger())
handler = function.handler
'''
