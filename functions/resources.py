"""The stateful resources the functions share, other than queues (a queue is declared by the
worker it feeds). The CDK app and the local runner both create exactly these."""

from shared.declare import Bucket, Secret

BUCKETS: tuple[Bucket, ...] = (Bucket("uploads"),)

SECRETS: tuple[Secret, ...] = ()
