"""The stateful resources the functions share, other than queues (a queue is declared by the
worker it feeds). The CDK app and the local runner both create exactly these."""

from shared.auth.keys import new_secret
from shared.declare import Bucket, Secret

BUCKETS: tuple[Bucket, ...] = (Bucket("uploads"),)

SECRETS: tuple[Secret, ...] = (
    Secret(
        "signing-keys",
        description="Access-token signing keys: {current: kid, <kid>: key, ...} (rotate by adding)",
        local_value=new_secret,
    ),
)
