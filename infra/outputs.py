"""The names of the stack outputs an operator's tools read (``python -m ops``), and that the
local runner writes for itself (``.local/outputs.json``). Plain data, no CDK imports: the ops
CLI and the local runner import this module, the stacks create the outputs it names.

Every resource the runbooks act on is found by one of these keys, never typed by hand.
"""

from __future__ import annotations

from infra.components.naming import pascal

#: Output keys without a declared name behind them.
API_URL = "ApiUrl"
DATABASE_INSTANCE = "DatabaseInstanceId"
DATABASE_ENDPOINT = "DatabaseEndpoint"  # the instance's own address (RDS Proxy's is the functions')
DATABASE_SECRET = "DatabaseSecretArn"  # noqa: S105 - an output key, not a secret
DATABASE_READ_REPLICA = "DatabaseReadReplicaId"
BACKUP_VAULT = "BackupVaultName"
BACKUP_ROLE = "BackupRoleArn"
#: Local runner only (``.local/outputs.json``): where its emulated services listen.
AWS_ENDPOINT = "AwsEndpoint"
DATABASE_URL = "DatabaseUrl"
REDIS_URL = "RedisUrl"
LOG_FILE = "LogFile"
STATE_DIR = "StateDir"


def queue_url(queue: str) -> str:
    """The URL of the worker queue declared as ``queue``."""
    return f"Queue{pascal(queue)}Url"


def dead_letter_url(queue: str) -> str:
    """The URL of the dead-letter queue of ``queue``."""
    return f"DeadLetters{pascal(queue)}Url"


def bucket_name(bucket: str) -> str:
    return f"Bucket{pascal(bucket)}Name"


def secret_arn(secret: str) -> str:
    return f"Secret{pascal(secret)}Arn"


def function_name(function: str) -> str:
    """The physical name of a function (its log group is ``/aws/lambda/<name>``)."""
    return f"Function{pascal(function)}Name"
