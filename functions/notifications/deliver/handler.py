"""The notification worker: store each notification in-app and email it, once."""

from shared.notifications.messages import NotificationJob, Notify
from shared.notifications.service import deliver, handle_reset_request
from shared.platform.declare import DATABASE, EMAIL
from shared.platform.settings import Database, Email, Observability
from shared.platform.worker import QueueWorker


class NotificationSettings(Observability, Database, Email):
    """Postgres and the SES sender."""


function = QueueWorker(
    queue="notifications",
    model=NotificationJob,
    batch_size=10,
    timeout_seconds=30,
    needs=(DATABASE, EMAIL),
    settings=NotificationSettings,
)


@function.record_handler
def process(job: NotificationJob) -> None:
    message = job.root
    if isinstance(message, Notify):
        deliver(message)
    else:
        handle_reset_request(message)


handler = function.handler
