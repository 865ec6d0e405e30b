"""Every function's settings validate with exactly the environment its declaration earns it:
the variables the CDK app and the local runner set for its declared needs, nothing else. A
function that reads a resource it did not declare fails here, not in AWS."""

from __future__ import annotations

import os

import pytest

from functions.registry import discover
from shared.settings import reset_settings

REGISTRY = discover()
BASE = {"POWERTOOLS_SERVICE_NAME": "test", "STAGE": "dev", "AWS_REGION": "us-east-1"}


@pytest.mark.parametrize("name", [entry.name for entry in REGISTRY])
def test_declared_needs_are_enough_for_the_settings(name, monkeypatch):
    # Given only what the declaration earns the function
    function = REGISTRY[name].function
    env = dict(BASE)
    for access in function.needs:
        if access.env:
            env[access.env] = f"value-of-{access.env.lower()}"
    monkeypatch.setattr(os, "environ", env)
    reset_settings()
    try:
        # Then its settings validate
        function.settings()
    finally:
        reset_settings()


def test_an_undeclared_need_is_caught(monkeypatch):
    # Given a function whose settings want the database, with no database declared
    from shared.settings import ApiSettings

    monkeypatch.setattr(os, "environ", dict(BASE))
    reset_settings()
    # Then validation fails, naming what is missing
    with pytest.raises(ValueError, match="DATABASE_URL"):
        ApiSettings()
