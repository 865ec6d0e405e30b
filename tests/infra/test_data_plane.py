"""The data plane of both environments: an isolated network without NAT, Postgres behind RDS
Proxy, Redis, and exactly the functions that need them inside the VPC, holding no secret."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

INTERFACE_SERVICES = {"secretsmanager", "sqs", "email", "bedrock-runtime", "xray"}


@pytest.fixture(scope="module", params=["dev", "prod"])
def env(request, synthesized, synthesized_prod) -> Synthesized:
    return {"dev": synthesized, "prod": synthesized_prod}[request.param]


def _props(env: Synthesized, type_: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in env.resources(env.stateful, type_).values()]


def _only(env: Synthesized, type_: str) -> dict[str, Any]:
    (props,) = _props(env, type_)
    return props


def _is_prod(env: Synthesized) -> bool:
    return env.stateful_artifact.stack_name == "stratus-prod-stateful"


def _service(endpoint: dict[str, Any]) -> str:
    return str(endpoint["ServiceName"]["Fn::Join"][1][-1]).lstrip(".")


def test_the_network_has_isolated_subnets_in_two_azs_and_no_nat(env):
    # Then there is no way out to the internet: no NAT gateway, no internet gateway
    for template in (env.stateful, env.api):
        template.resource_count_is("AWS::EC2::NatGateway", 0)
        template.resource_count_is("AWS::EC2::InternetGateway", 0)
    env.stateful.resource_count_is("AWS::EC2::VPC", 1)
    # And the subnets are isolated, one per AZ, with no public address
    subnets = _props(env, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert {json.dumps(s["AvailabilityZone"]) for s in subnets} == {
        json.dumps({"Fn::Select": [i, {"Fn::GetAZs": ""}]}) for i in (0, 1)
    }
    for subnet in subnets:
        assert subnet["MapPublicIpOnLaunch"] is False
        assert {"Key": "aws-cdk:subnet-type", "Value": "Isolated"} in subnet["Tags"]


def test_aws_apis_are_reached_through_endpoints(env):
    endpoints = _props(env, "AWS::EC2::VPCEndpoint")
    # Then S3 is a (free) gateway endpoint on every route table
    (s3,) = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert _service(s3) == "s3"
    assert len(s3["RouteTableIds"]) == 2
    # And the APIs functions call from the VPC are interface endpoints with private DNS, in both AZs
    interface = [e for e in endpoints if e["VpcEndpointType"] == "Interface"]
    # (prod's restore check also reports to AWS Backup from the VPC: tests/infra/test_recovery)
    expected = INTERFACE_SERVICES | ({"backup"} if _is_prod(env) else set())
    assert {_service(e) for e in interface} == expected
    for endpoint in interface:
        assert endpoint["PrivateDnsEnabled"] is True
        assert len(endpoint["SubnetIds"]) == 2


def test_postgres_is_encrypted_backed_up_and_tls_only(env):
    prod = _is_prod(env)
    # The primary (prod also has a read replica: tests/infra/test_recovery.py)
    (logical_id,) = [
        i
        for i, r in env.resources(env.stateful, "AWS::RDS::DBInstance").items()
        if "SourceDBInstanceIdentifier" not in r["Properties"]
    ]
    resource = env.resources(env.stateful, "AWS::RDS::DBInstance")[logical_id]
    props = resource["Properties"]
    # Then storage is encrypted with the stack's own KMS key
    assert props["StorageEncrypted"] is True
    key_id = props["KmsKeyId"]["Fn::GetAtt"][0]
    key = env.resources(env.stateful, "AWS::KMS::Key")[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    # And automated backups are kept 30 days (point-in-time recovery within them)
    assert props["BackupRetentionPeriod"] == 30
    # And Multi-AZ and deletion protection are on in prod only
    assert props["MultiAZ"] is prod
    assert props["DeletionProtection"] is prod
    assert props["DBInstanceClass"] == ("db.m7g.large" if prod else "db.t4g.micro")
    assert props["Engine"] == "postgres"
    assert props["PubliclyAccessible"] is False
    assert resource["DeletionPolicy"] == ("Snapshot" if prod else "Delete")
    # And TLS is enforced by the parameter group
    group_id = props["DBParameterGroupName"]["Ref"]
    group = env.resources(env.stateful, "AWS::RDS::DBParameterGroup")[group_id]
    assert group["Properties"]["Parameters"] == {"rds.force_ssl": "1"}
    # And the credentials are generated, never written in the template
    assert "{{resolve:secretsmanager:" in json.dumps(props["MasterUserPassword"])


def test_the_credentials_rotate_inside_the_vpc(env):
    (schedule,) = _props(env, "AWS::SecretsManager::RotationSchedule")
    assert schedule["RotationRules"]["ScheduleExpression"] == "rate(30 days)"
    (rotation,) = _props(env, "AWS::Serverless::Application")
    parameters = rotation["Parameters"]
    # The rotation function reaches Secrets Manager through the interface endpoint
    assert "secretsmanager." in json.dumps(parameters["endpoint"])
    assert "Ref" in json.dumps(parameters["vpcSubnetIds"])


def test_rds_proxy_requires_tls_and_reads_the_generated_secret(env):
    proxy = _only(env, "AWS::RDS::DBProxy")
    assert proxy["RequireTLS"] is True
    assert proxy["EngineFamily"] == "POSTGRESQL"
    (auth,) = proxy["Auth"]
    assert auth["AuthScheme"] == "SECRETS"


def test_redis_is_encrypted_authenticated_and_fails_over_in_prod(env):
    prod = _is_prod(env)
    redis = _only(env, "AWS::ElastiCache::ReplicationGroup")
    assert redis["TransitEncryptionEnabled"] is True
    assert redis["AtRestEncryptionEnabled"] is True
    # The AUTH token is a dynamic reference to a generated secret, never a literal
    auth_token = json.dumps(redis["AuthToken"])
    assert "{{resolve:secretsmanager:" in auth_token
    secret_id = redis["AuthToken"]["Fn::Join"][1][1]["Ref"]
    secret = env.resources(env.stateful, "AWS::SecretsManager::Secret")[secret_id]
    assert "GenerateSecretString" in secret["Properties"]
    assert redis["AutomaticFailoverEnabled"] is prod
    assert redis["NumCacheClusters"] == (2 if prod else 1)
    # In its own security group, reachable only from the cache clients' group on 6379
    (group,) = redis["SecurityGroupIds"]
    group_id = group["Fn::GetAtt"][0]
    rules = [
        r
        for r in _props(env, "AWS::EC2::SecurityGroupIngress")
        if r["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(6379, 6379)]
    assert "SourceSecurityGroupId" in rules[0]


def test_the_stateful_stack_keeps_termination_protection(env):
    assert env.stateful_artifact.termination_protection is True


def _data_kinds(env: Synthesized, name: str) -> set[str]:
    return env.registry[name].function.need_kinds & {"database", "cache", "vectors"}


def test_exactly_the_functions_that_need_a_store_in_the_vpc_sit_in_it(env):
    in_vpc = []
    for entry in env.registry:
        _, function = env.function(entry.name)
        props = function["Properties"]
        kinds = _data_kinds(env, entry.name)
        if not kinds:
            assert "VpcConfig" not in props, entry.name
            continue
        in_vpc.append(entry.name)
        config = props["VpcConfig"]
        # In both isolated subnets, with one client security group per store it needs
        assert len(config["SubnetIds"]) == 2
        groups = json.dumps(config["SecurityGroupIds"])
        assert len(config["SecurityGroupIds"]) == len(kinds)
        assert ("PostgresClientSecurityGroup" in groups) is ("database" in kinds)
        assert ("RedisClientSecurityGroup" in groups) is ("cache" in kinds)
        assert ("VectorsClientSecurityGroup" in groups) is ("vectors" in kinds)
        env_vars = props["Environment"]["Variables"]
        if "database" in kinds:
            assert env_vars["DATABASE_TLS"] == "true"
            host = json.dumps(env_vars["DATABASE_HOST"])
            assert "PostgresInstanceProxy" in host and "Endpoint" in host
            assert "DATABASE_SECRET_ARN" in env_vars
        if "cache" in kinds:
            assert {"REDIS_HOST", "REDIS_PORT", "REDIS_AUTH_SECRET_ARN"} <= set(env_vars)
    # The real registry has both kinds of function
    assert in_vpc and len(in_vpc) < len(env.registry.entries)


def test_proxy_accepts_only_the_database_clients(env):
    proxy = _only(env, "AWS::RDS::DBProxy")
    (group,) = proxy["VpcSecurityGroupIds"]
    rules = [
        r
        for r in _props(env, "AWS::EC2::SecurityGroupIngress")
        if r["GroupId"] == group and r["FromPort"] == 5432
    ]
    assert len(rules) == 1
    assert "PostgresClientSecurityGroup" in json.dumps(rules[0]["SourceSecurityGroupId"])


SECRET_WORDS = re.compile(r"password|passwd|token|secret|credential", re.IGNORECASE)


def test_no_secret_value_in_any_function_environment(env):
    for logical_id, function in env.functions().items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        # No URL that could carry credentials
        assert not {"DATABASE_URL", "REDIS_URL"} & set(variables), logical_id
        for name, value in variables.items():
            if isinstance(value, str):
                # A literal: neither named like a secret nor looking like a URL with userinfo
                assert not SECRET_WORDS.search(name), (logical_id, name)
                assert not re.search(r"://[^/\s]*:[^/\s]*@", value), (logical_id, name)
            else:
                # A reference (an ARN, an endpoint): never a resolved secret value
                assert "{{resolve:secretsmanager" not in json.dumps(value), (logical_id, name)


def test_functions_may_read_the_secrets_of_what_they_need(env):
    for entry in env.registry:
        kinds = _data_kinds(env, entry.name)
        if not kinds:
            continue
        statements = env.policy_statements(entry.name)
        readable = json.dumps(
            [s["Resource"] for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
        )
        if "database" in kinds:
            assert "PostgresInstanceSecret" in readable, entry.name
        if "cache" in kinds:
            assert "RedisAuthToken" in readable, entry.name
