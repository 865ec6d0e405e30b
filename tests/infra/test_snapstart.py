"""SnapStart: every function invoked again and again runs from a snapshot of a published
version, and everything that invokes it goes through the ``live`` alias (a trigger that named
the function itself would run ``$LATEST``, where SnapStart never applies)."""

from __future__ import annotations

import json

import pytest

from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra


def _snapshotted(synth: Synthesized) -> list[str]:
    return [e.name for e in synth.registry if e.kind != "deploy"]


def test_snapstart_versions_and_aliases_on_every_function_it_applies_to(synthesized):
    # Given the synthesized dev app
    versions = synthesized.resources(synthesized.api, "AWS::Lambda::Version")
    aliases = synthesized.resources(synthesized.api, "AWS::Lambda::Alias")
    for entry in synthesized.registry:
        logical_id, function = synthesized.function(entry.name)
        snap_start = function["Properties"].get("SnapStart")
        own_versions = [
            version_id
            for version_id, version in versions.items()
            if version["Properties"]["FunctionName"] == {"Ref": logical_id}
        ]
        own_aliases = [
            alias["Properties"]
            for alias in aliases.values()
            if alias["Properties"]["FunctionName"] == {"Ref": logical_id}
        ]
        if entry.kind == "deploy":
            # Then the deploy job, run once per deploy, takes no snapshot and has no alias
            assert snap_start is None, entry.name
            assert own_aliases == [], entry.name
            continue
        # Then every other function snapshots its published versions
        assert snap_start == {"ApplyOn": "PublishedVersions"}, entry.name
        # And publishes one version, which its live alias points at
        assert len(own_versions) == 1, entry.name
        (alias,) = own_aliases
        assert alias["Name"] == "live"
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [own_versions[0], "Version"]}
    kinds = {synthesized.registry[name].kind for name in _snapshotted(synthesized)}
    assert kinds == {"http", "authorizer", "queue", "schedule"}


def test_every_route_and_the_authorizer_invoke_the_alias(synthesized):
    # Given every API Gateway method with a Lambda integration
    methods = synthesized.resources(synthesized.api, "AWS::ApiGateway::Method").values()
    proxied = [m["Properties"]["Integration"] for m in methods]
    uris = [i["Uri"] for i in proxied if i.get("Type") == "AWS_PROXY"]
    # Then each invokes its route's function through the live alias, never $LATEST
    invoked = sorted(synthesized.invoked(uri) for uri in uris)
    routes = synthesized.registry.routes
    assert invoked == sorted(synthesized.function(entry.name)[0] for entry, _ in routes)
    # And so does the authorizer
    (authorizer,) = synthesized.resources(synthesized.api, "AWS::ApiGateway::Authorizer").values()
    uri = authorizer["Properties"]["AuthorizerUri"]
    assert synthesized.invoked(uri) == synthesized.function("auth-authorizer")[0]


def test_queues_and_schedules_invoke_the_alias(synthesized):
    # Given every SQS event source mapping: it feeds its worker's live alias
    mappings = synthesized.resources(synthesized.api, "AWS::Lambda::EventSourceMapping").values()
    fed = sorted(synthesized.invoked(m["Properties"]["FunctionName"]) for m in mappings)
    queues = synthesized.registry.queues
    assert fed == sorted(synthesized.function(entry.name)[0] for entry, _ in queues)
    assert all(json.dumps(m["Properties"]["FunctionName"]).endswith(':live"]]}') for m in mappings)
    # And every EventBridge rule targets its job's live alias
    rules = synthesized.resources(synthesized.api, "AWS::Events::Rule").values()
    targets = [target["Arn"] for rule in rules for target in rule["Properties"]["Targets"]]
    jobs = [entry.name for entry, _ in synthesized.registry.schedules]
    assert targets == [{"Ref": synthesized.alias(name)} for name in jobs]


def test_invoke_permissions_follow_the_alias(synthesized):
    # Given the permissions that let API Gateway and EventBridge invoke a function
    permissions = [
        p["Properties"]
        for p in synthesized.resources(synthesized.api, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] in {"apigateway.amazonaws.com", "events.amazonaws.com"}
    ]
    # Then each names a live alias (one on the function alone would not let them invoke it)
    granted = {synthesized.invoked(p["FunctionName"]) for p in permissions}
    routed = {synthesized.function(e.name)[0] for e, _ in synthesized.registry.routes}
    scheduled = {synthesized.function(e.name)[0] for e, _ in synthesized.registry.schedules}
    authorizer = synthesized.function("auth-authorizer")[0]
    assert granted == routed | scheduled | {authorizer}
