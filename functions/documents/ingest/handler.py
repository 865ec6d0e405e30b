"""The ingest worker: S3 ObjectCreated → text → chunks → embeddings → vectors → ready."""

from shared import embeddings
from shared.documents.ingest import TIMING, S3Notification, ingest_notification
from shared.platform.declare import DATABASE, EMBEDDINGS, VECTORS, bucket, queue
from shared.platform.settings import IngestSettings
from shared.platform.worker import QueueWorker

function = QueueWorker(
    queue="ingest",
    model=S3Notification,
    s3_bucket="uploads",
    s3_prefix="uploads/",
    batch_size=5,
    # the timeout, visibility timeout and maxReceiveCount the claim relies on
    redelivery=TIMING,
    memory_mb=1024,
    needs=(
        DATABASE,
        VECTORS,
        EMBEDDINGS,
        bucket("uploads", "read"),
        queue("notifications"),
        queue("webhooks"),
    ),
    settings=IngestSettings,
)
# Before a SnapStart snapshot: the embedding model read and run once (no call but Bedrock's).
function.before_snapshot(embeddings.prime)


@function.record_handler
def ingest(message: S3Notification) -> None:
    ingest_notification(message)


handler = function.handler
