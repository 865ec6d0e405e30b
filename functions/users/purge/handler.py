"""The purge worker: a deleted user's documents, objects, vectors and notifications."""

from shared.declare import DATABASE, VECTORS, bucket
from shared.settings import IngestSettings
from shared.users.purge import PURGE_QUEUE, PurgeUser, purge
from shared.worker import QueueWorker

function = QueueWorker(
    queue=PURGE_QUEUE,
    model=PurgeUser,
    batch_size=1,
    timeout_seconds=300,
    needs=(DATABASE, VECTORS, bucket("uploads", "read_write")),
    settings=IngestSettings,
)


@function.record_handler
def process(message: PurgeUser) -> None:
    purge(message.user_id)


handler = function.handler
