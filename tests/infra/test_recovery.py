"""Disaster recovery in the templates: point-in-time recovery of the database and the buckets,
daily recovery points, and in prod a second region with the buckets' replicas (S3 Replication
with a 15-minute time control) and copies of the backups."""

from __future__ import annotations

import json

import pytest

from infra.components.backup import RETENTION_DAYS
from infra.config import STAGES, ConfigurationError, recovery_region

pytestmark = pytest.mark.infra


def _plan_rules(synthesized) -> dict[str, dict]:
    (plan,) = synthesized.resources(synthesized.stateful, "AWS::Backup::BackupPlan").values()
    rules = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    return {rule["RuleName"]: rule for rule in rules}


@pytest.fixture(params=["dev", "prod"])
def env(request, synthesized, synthesized_prod):
    return synthesized if request.param == "dev" else synthesized_prod


def test_the_database_and_the_buckets_recover_to_any_point_of_the_last_30_days(env):
    # Then RDS keeps 30 days of automated backups (its own point-in-time recovery)
    (instance,) = [
        r
        for r in env.resources(env.stateful, "AWS::RDS::DBInstance").values()
        if "SourceDBInstanceIdentifier" not in r["Properties"]
    ]
    assert instance["Properties"]["BackupRetentionPeriod"] == RETENTION_DAYS
    # And AWS Backup runs continuous backups (point-in-time recovery) besides the daily point
    rules = _plan_rules(env)
    assert rules["continuous"]["EnableContinuousBackup"] is True
    assert rules["continuous"]["Lifecycle"]["DeleteAfterDays"] == RETENTION_DAYS
    assert rules["daily"]["Lifecycle"]["DeleteAfterDays"] == RETENTION_DAYS
    # Over the database and every bucket
    (selection,) = env.resources(env.stateful, "AWS::Backup::BackupSelection").values()
    resources = json.dumps(selection["Properties"]["BackupSelection"]["Resources"])
    assert "PostgresInstance" in resources
    assert "UploadsBucket" in resources


def test_dev_has_no_recovery_region(synthesized):
    assert synthesized.recovery is None
    assert "CopyActions" not in _plan_rules(synthesized)["daily"]
    buckets = synthesized.resources(synthesized.stateful, "AWS::S3::Bucket").values()
    assert not [b for b in buckets if "ReplicationConfiguration" in b["Properties"]]


def test_prod_keeps_replicas_and_backup_copies_in_its_recovery_region(synthesized_prod):
    prod = synthesized_prod
    region = STAGES["prod"].dr_region
    assert region
    # Given the recovery stack, deployed to the recovery region before the stateful stack
    assert prod.recovery is not None
    assert prod.recovery_artifact.environment.region == region
    assert prod.recovery_artifact.stack_name in {d.id for d in prod.stateful_artifact.dependencies}
    # Then every declared bucket has a versioned, retained replica there
    replicas = prod.resources(prod.recovery, "AWS::S3::Bucket")
    assert len(replicas) == len(prod.registry.buckets)
    for replica in replicas.values():
        assert replica["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        assert replica["DeletionPolicy"] == "Retain"
    # And each source bucket replicates into its replica within 15 minutes (RTC)
    sources = [
        b
        for b in prod.resources(prod.stateful, "AWS::S3::Bucket").values()
        if "ReplicationConfiguration" in b["Properties"]
    ]
    assert len(sources) == len(prod.registry.buckets)
    for source in sources:
        (rule,) = source["Properties"]["ReplicationConfiguration"]["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
        destination = rule["Destination"]
        assert "-replica-" in json.dumps(destination["Bucket"])
        assert destination["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
        assert destination["Metrics"]["Status"] == "Enabled"
    # And the daily recovery points are copied to the recovery vault, kept as long
    (copy,) = _plan_rules(prod)["daily"]["CopyActions"]
    assert region in json.dumps(copy["DestinationBackupVaultArn"])
    assert "stratus-prod-recovery" in json.dumps(copy["DestinationBackupVaultArn"])
    assert copy["Lifecycle"]["DeleteAfterDays"] == RETENTION_DAYS
    (vault,) = prod.resources(prod.recovery, "AWS::Backup::BackupVault").values()
    assert vault["Properties"]["BackupVaultName"] == "stratus-prod-recovery"


def test_the_replication_role_touches_only_its_two_buckets(synthesized_prod):
    prod = synthesized_prod
    roles = {
        logical_id: role
        for logical_id, role in prod.resources(prod.stateful, "AWS::IAM::Role").items()
        if "Replication" in logical_id
    }
    assert roles
    policies = [
        p
        for p in prod.resources(prod.stateful, "AWS::IAM::Policy").values()
        if any(r["Ref"] in roles for r in p["Properties"]["Roles"])
    ]
    actions = {
        action
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert actions == {
        "s3:GetReplicationConfiguration",
        "s3:ListBucket",
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
        "s3:ReplicateTags",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, "us-west-2"), ("", "us-west-2"), ("eu-central-1", "eu-central-1"), ("none", None)],
)
def test_the_recovery_region_comes_from_the_stage_or_the_deployer(given, expected):
    assert recovery_region(given, STAGES["prod"]) == expected
    assert recovery_region(None, STAGES["dev"]) is None


@pytest.mark.parametrize("given", ["west", "us-west-2/x", "US_WEST_2"])
def test_a_malformed_recovery_region_fails_the_synth(given):
    with pytest.raises(ConfigurationError, match="dr_region"):
        recovery_region(given, STAGES["prod"])
