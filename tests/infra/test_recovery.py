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


def test_prod_restores_the_database_every_week_and_a_function_validates_it(synthesized_prod):
    prod = synthesized_prod
    # Given the weekly restore testing plan of the latest recovery point of the vault
    (plan,) = prod.resources(prod.stateful, "AWS::Backup::RestoreTestingPlan").values()
    properties = plan["Properties"]
    assert properties["ScheduleExpression"] == "cron(0 5 ? * SUN *)"
    selection_rule = properties["RecoveryPointSelection"]
    assert selection_rule["Algorithm"] == "LATEST_WITHIN_WINDOW"
    assert selection_rule["SelectionWindowDays"] == 7
    # And it restores the database instance, into the isolated subnets, as a small instance
    (selection,) = prod.resources(prod.stateful, "AWS::Backup::RestoreTestingSelection").values()
    assert selection["Properties"]["ProtectedResourceType"] == "RDS"
    assert "PostgresInstance" in json.dumps(selection["Properties"]["ProtectedResourceArns"])
    overrides = selection["Properties"]["RestoreMetadataOverrides"]
    assert {"dbsubnetgroupname", "vpcsecuritygroupids", "dbinstanceclass"} <= set(overrides)
    assert overrides["publiclyaccessible"] == "false"
    # Then a completed restore test runs the restore check, in the VPC
    rules = [
        r
        for r in prod.resources(prod.api, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.backup"]
    ]
    (rule,) = rules
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Restore Job State Change"]
    assert pattern["detail"]["status"] == ["COMPLETED"]
    target = json.dumps(rule["Properties"]["Targets"])
    assert "RestoreCheckFunction" in target
    checks = {
        k: f
        for k, f in prod.resources(prod.api, "AWS::Lambda::Function").items()
        if k.startswith("RestoreCheckFunction")
    }
    (check,) = checks.values()
    assert check["Properties"]["VpcConfig"]["SubnetIds"]
    # And AWS Backup is reachable from the isolated subnets to take the verdict
    endpoints = prod.resources(prod.stateful, "AWS::EC2::VPCEndpoint").values()
    assert any("backup" in json.dumps(e["Properties"]["ServiceName"]) for e in endpoints)


def test_dev_runs_no_restore_tests(synthesized):
    assert not synthesized.resources(synthesized.stateful, "AWS::Backup::RestoreTestingPlan")


def test_prod_has_a_read_replica_that_the_functions_reach_and_dev_has_none(
    synthesized, synthesized_prod
):
    from infra import outputs

    def replicas(env):
        return {
            logical_id: r
            for logical_id, r in env.resources(env.stateful, "AWS::RDS::DBInstance").items()
            if "SourceDBInstanceIdentifier" in r["Properties"]
        }

    assert replicas(synthesized) == {}
    ((replica_id, replica),) = replicas(synthesized_prod).items()
    props = replica["Properties"]
    # Then it replicates the primary, encrypted, TLS only, in the isolated subnets
    assert "PostgresInstance" in json.dumps(props["SourceDBInstanceIdentifier"])
    assert "StorageEncrypted" not in props  # a replica is encrypted as its source is
    assert props["PubliclyAccessible"] is False
    # And only the functions' client security group may reach it
    (group_id,) = [g["Fn::GetAtt"][0] for g in props["VPCSecurityGroups"]]
    ingress = [
        r["Properties"]
        for r in synthesized_prod.resources(
            synthesized_prod.stateful, "AWS::EC2::SecurityGroupIngress"
        ).values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert [r["FromPort"] for r in ingress] == [5432]
    assert "PostgresClientSecurityGroup" in json.dumps(ingress[0]["SourceSecurityGroupId"])
    # And every function that needs the database gets its address, in prod only
    for env, expected in ((synthesized, False), (synthesized_prod, True)):
        for entry in env.registry:
            if "database" not in entry.function.need_kinds:
                continue
            _, function = env.function(entry.name)
            variables = function["Properties"]["Environment"]["Variables"]
            assert ("DATABASE_READ_HOST" in variables) is expected, entry.name
    # And the ops CLI finds it by a stack output (promotion: the runbook)
    stateful_outputs = synthesized_prod.stateful.to_json()["Outputs"]
    assert outputs.DATABASE_READ_REPLICA in stateful_outputs
    assert replica_id in json.dumps(stateful_outputs[outputs.DATABASE_READ_REPLICA])


def test_the_stacks_publish_what_the_ops_cli_reads(synthesized):
    from infra import outputs

    api = synthesized.api.to_json()["Outputs"]
    stateful = synthesized.stateful.to_json()["Outputs"]
    for _, trigger in synthesized.registry.queues:
        assert outputs.queue_url(trigger.queue) in api
        assert outputs.dead_letter_url(trigger.queue) in api
    for entry in synthesized.registry:
        assert outputs.function_name(entry.name) in api
    for bucket in synthesized.registry.buckets:
        assert outputs.bucket_name(bucket.name) in stateful
    for secret in synthesized.registry.secrets:
        assert outputs.secret_arn(secret.name) in stateful
    for key in (
        outputs.DATABASE_INSTANCE,
        outputs.DATABASE_ENDPOINT,
        outputs.DATABASE_SECRET,
        outputs.BACKUP_VAULT,
        outputs.BACKUP_ROLE,
    ):
        assert key in stateful
