"""The vector store in AWS: an OpenSearch Serverless vector search collection (the default), a
managed OpenSearch domain (``-c vector_engine=domain``), or pgvector in the RDS database
(``-c vector_engine=pgvector``: no OpenSearch resource at all; migration 0006 creates the
extension and the table, as the master user the deploy job runs as may). docs/vectors.md has
the reasons.

Both are reached only from inside the VPC (the functions that need vectors also need Postgres,
so they are in it anyway): the collection through an OpenSearch Serverless VPC endpoint, the
domain through its own network interfaces. Both encrypt at rest and accept TLS 1.2+ only. Who
may use the data is decided per function: IAM (``aoss:APIAccessAll`` on the collection, or
``es:ESHttp*`` on the domain) plus, for the collection, a data access policy naming the
functions' roles, made in the stack of those functions (:meth:`VectorStore.grant`).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_opensearchserverless as aoss
from aws_cdk import aws_opensearchservice as opensearch
from constructs import Construct

from infra.components.data_plane import Network, Postgres
from infra.config import CHOICES, ConfigurationError, StageConfig

VECTOR_ENGINES = CHOICES["vector_engine"]
HTTPS_PORT = 443

#: What the functions do with an index: create it on first use, then read and write documents.
INDEX_PERMISSIONS = (
    "aoss:CreateIndex",
    "aoss:DescribeIndex",
    "aoss:UpdateIndex",
    "aoss:ReadDocument",
    "aoss:WriteDocument",
)


class VectorStore(Construct):
    """The collection or domain, its network access, and what a function is given to use it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: Network,
        stage: StageConfig,
        database: Postgres,
    ) -> None:
        super().__init__(scope, id_)
        engine = stage.vector_engine
        if engine not in VECTOR_ENGINES:
            raise ConfigurationError(
                f"unknown vector engine {engine!r}: use one of {VECTOR_ENGINES}"
            )
        self.engine = engine
        self.stage = stage
        if engine == "pgvector":
            # The vectors are rows of the database: its clients are the store's clients, and
            # the database grant (the secret, the proxy) is all a function needs.
            self.clients = database.clients
            self.endpoint = ""
            self.arn = ""
            self.service = "aoss"  # unused: no OpenSearch request is ever signed
            return
        vpc = network.vpc
        #: The security group a function joins to reach the store.
        self.clients = ec2.SecurityGroup(
            self, "ClientSecurityGroup", vpc=vpc, description="Functions that use vectors"
        )
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"OpenSearch ({engine})"
        )
        self.security_group.add_ingress_rule(
            self.clients, ec2.Port.tcp(HTTPS_PORT), "HTTPS from the functions that need vectors"
        )
        self.name = f"stratus-{stage.name}-vectors"  # 3-32 lower-case characters, both engines
        if engine == "serverless":
            self._serverless(network)
        else:
            self._domain(network)

    # ---- OpenSearch Serverless ---------------------------------------------------------------

    def _serverless(self, network: Network) -> None:
        stack = cdk.Stack.of(self)
        name = self.name
        collection_rule = {"ResourceType": "collection", "Resource": [f"collection/{name}"]}
        # Encryption at rest with an AWS-owned key (the default; a customer key is a policy
        # change here, and a key policy the functions' roles must appear in).
        encryption = aoss.CfnSecurityPolicy(
            self,
            "EncryptionPolicy",
            name=f"{name}-enc",
            type="encryption",
            policy=stack.to_json_string({"Rules": [collection_rule], "AWSOwnedKey": True}),
        )
        subnet_ids = [subnet.subnet_id for subnet in network.vpc.isolated_subnets]
        self.vpc_endpoint = aoss.CfnVpcEndpoint(
            self,
            "VpcEndpoint",
            name=f"{name}-vpce",
            vpc_id=network.vpc.vpc_id,
            subnet_ids=subnet_ids,
            security_group_ids=[self.security_group.security_group_id],
        )
        # Reachable from the VPC endpoint only: no public access, dashboards included.
        network_policy = aoss.CfnSecurityPolicy(
            self,
            "NetworkPolicy",
            name=f"{name}-net",
            type="network",
            policy=stack.to_json_string(
                [
                    {
                        "Rules": [
                            collection_rule,
                            {"ResourceType": "dashboard", "Resource": [f"collection/{name}"]},
                        ],
                        "AllowFromPublic": False,
                        "SourceVPCEs": [self.vpc_endpoint.ref],
                    }
                ]
            ),
        )
        self.collection = aoss.CfnCollection(
            self,
            "Collection",
            name=name,
            type="VECTORSEARCH",
            description=f"Stratus {self.stage.name}: document chunk embeddings",
            # Standby replicas in a second AZ where the stage keeps its data (prod).
            standby_replicas="ENABLED" if self.stage.retain_data else "DISABLED",
        )
        self.collection.add_resource_dependency(encryption)
        self.collection.add_resource_dependency(network_policy)
        self.collection.apply_removal_policy(
            cdk.RemovalPolicy.RETAIN if self.stage.retain_data else cdk.RemovalPolicy.DESTROY
        )
        self.endpoint = self.collection.attr_collection_endpoint
        self.arn = self.collection.attr_arn
        self.service = "aoss"

    # ---- a managed domain ----------------------------------------------------------------------

    def _domain(self, network: Network) -> None:
        stage = self.stage
        nodes = stage.vector_domain_nodes
        subnets = network.vpc.isolated_subnets[: min(nodes, 2)]
        self.domain = opensearch.Domain(
            self,
            "Domain",
            domain_name=self.name[:28],
            version=opensearch.EngineVersion.OPENSEARCH_2_19,
            vpc=network.vpc,
            vpc_subnets=[ec2.SubnetSelection(subnets=subnets)],
            security_groups=[self.security_group],
            capacity=opensearch.CapacityConfig(
                data_nodes=nodes,
                data_node_instance_type=stage.vector_domain_instance_type,
                multi_az_with_standby_enabled=False,
            ),
            zone_awareness=opensearch.ZoneAwarenessConfig(
                enabled=nodes > 1, availability_zone_count=2 if nodes > 1 else None
            ),
            ebs=opensearch.EbsOptions(
                volume_size=stage.vector_domain_volume_gb,
                volume_type=ec2.EbsDeviceVolumeType.GP3,
            ),
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2,
            logging=opensearch.LoggingOptions(
                app_log_enabled=True, slow_search_log_enabled=True, slow_index_log_enabled=True
            ),
            removal_policy=(
                cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY
            ),
        )
        self.endpoint = f"https://{self.domain.domain_endpoint}"
        self.arn = self.domain.domain_arn
        self.service = "es"

    # ---- access ----------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """What a function needs to find the store (``shared.vectors.VectorSettings``)."""
        if self.engine == "pgvector":
            return {
                "VECTOR_STORE": "pgvector",
                "OPENSEARCH_ENDPOINT": "",
                "OPENSEARCH_SERVICE": "aoss",
            }
        return {
            "VECTOR_STORE": "opensearch",
            "OPENSEARCH_ENDPOINT": self.endpoint,
            "OPENSEARCH_SERVICE": self.service,
        }

    def grant(self, function: lambda_.Function) -> None:
        """IAM for ``function``: the collection's data plane (``aoss:APIAccessAll``; what it may
        do there is the data access policy's), or HTTP methods on the domain's indexes."""
        if self.engine == "pgvector":
            return  # the function's database need grants the database
        if self.engine == "domain":
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=[
                        f"es:ESHttp{method}" for method in ("Get", "Head", "Post", "Put", "Delete")
                    ],
                    resources=[f"{self.arn}/*"],
                )
            )
        else:
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["aoss:APIAccessAll"], resources=[self.arn])
            )

    def add_data_access_policy(
        self, scope: Construct, functions: Sequence[lambda_.Function]
    ) -> aoss.CfnAccessPolicy | None:
        """The collection's data access policy for ``functions``' roles, made in ``scope`` (their
        stack: the collection's stack must not depend on theirs). None for a domain, whose
        access is IAM alone."""
        if self.engine != "serverless" or not functions:
            return None
        roles = [function.role.role_arn for function in functions if function.role is not None]
        return aoss.CfnAccessPolicy(
            scope,
            "VectorsDataAccessPolicy",
            name=f"{self.name}-fns",
            type="data",
            description="The functions that read and write document vectors",
            policy=cdk.Stack.of(scope).to_json_string(
                [
                    {
                        "Rules": [
                            {
                                "ResourceType": "index",
                                "Resource": [f"index/{self.name}/*"],
                                "Permission": list(INDEX_PERMISSIONS),
                            },
                            {
                                "ResourceType": "collection",
                                "Resource": [f"collection/{self.name}"],
                                "Permission": ["aoss:DescribeCollectionItems"],
                            },
                        ],
                        "Principal": roles,
                    }
                ]
            ),
        )
