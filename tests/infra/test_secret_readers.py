"""Secrets by purpose: for every secret, the functions whose role can read it, from the
synthesized template, against the table in docs/security.md. No listing function can read a
token key, and only the functions that sign or verify access tokens can."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from functions.registry import REPO_ROOT

pytestmark = pytest.mark.infra

#: The environment variable that carries each secret's ARN to the functions that read it.
SECRET_VARIABLES = {
    "signing-keys": "SIGNING_KEYS_SECRET_ARN",
    "cursor-keys": "CURSOR_KEYS_SECRET_ARN",
    "admin": "ADMIN_SECRET_ARN",
    "webhook-keys": "WEBHOOK_KEYS_SECRET_ARN",
    "database credentials": "DATABASE_SECRET_ARN",
    "Redis AUTH token": "REDIS_AUTH_SECRET_ARN",
}
DOC = REPO_ROOT / "docs" / "security.md"


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _readers(synthesized) -> dict[str, set[str]]:
    """Secret → the registry functions whose role may call GetSecretValue on it."""
    references: dict[str, str] = {}
    for entry in synthesized.registry:
        _, function = synthesized.function(entry.name)
        env = function["Properties"].get("Environment", {}).get("Variables", {})
        for secret, variable in SECRET_VARIABLES.items():
            if variable in env:
                references.setdefault(secret, _key(env[variable]))
    readers: dict[str, set[str]] = {secret: set() for secret in SECRET_VARIABLES}
    for entry in synthesized.registry:
        for statement in synthesized.policy_statements(entry.name):
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            if "secretsmanager:GetSecretValue" not in actions:
                continue
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            for secret, reference in references.items():
                if any(_key(resource) == reference for resource in resources):
                    readers[secret].add(entry.name)
    return readers


def _documented() -> dict[str, set[str]]:
    """The table of docs/security.md: secret → the functions it names."""
    section = DOC.read_text().split("## Who can read which secret", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("secret", "---"):
            table[cells[0].strip("`")] = set(re.findall(r"`([a-z0-9-]+)`", cells[2]))
    return table


def test_the_secrets_table_in_the_docs_matches_the_template(synthesized):
    actual = _readers(synthesized)
    documented = _documented()
    expected_rows = "\n".join(
        f"| `{s}` | ... | {', '.join(f'`{n}`' for n in sorted(r))} |" for s, r in actual.items()
    )
    assert documented == actual, f"docs/security.md should list:\n{expected_rows}"


def test_no_function_but_the_token_signers_and_verifiers_can_read_a_token_key(synthesized):
    readers = _readers(synthesized)
    assert readers["signing-keys"] == {"auth-authorizer", "auth-login", "auth-refresh"}
    listings = {e.name for e in synthesized.registry if e.name.endswith("-list")}
    assert listings and not listings & readers["signing-keys"]
    assert listings <= readers["cursor-keys"]
