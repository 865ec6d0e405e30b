"""The hourly maintenance job: expired tokens, abandoned uploads."""

from shared import maintenance
from shared.platform.declare import DATABASE, bucket
from shared.platform.jobs import ScheduledJob
from shared.platform.settings import IngestSettings

function = ScheduledJob(
    schedule="rate(1 hour)",
    needs=(DATABASE, bucket("uploads", "read_write")),
    settings=IngestSettings,
    timeout_seconds=300,
)


@function.run
def run() -> dict[str, int]:
    return maintenance.run()


handler = function.handler
