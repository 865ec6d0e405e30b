"""The purge worker: a deleted user's documents, objects, vectors and notifications."""

from shared.platform.declare import DATABASE, VECTORS, bucket
from shared.platform.settings import IngestSettings
from shared.platform.worker import QueueWorker
from shared.users.purge import PURGE_QUEUE, PurgeUser, purge

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
