"""The local runner's "stack outputs": ``<state dir>/outputs.json``, written when it starts.

The ops CLI (``python -m ops``) reads a deployed stage's resource names from its CloudFormation
stack outputs; against the local runner it reads this file instead, under the same keys
(``infra.outputs``), plus where the runner's emulated services listen (moto, the embedded
PostgreSQL, Redis) and its log file. The file is removed when the runner stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from infra import outputs
from local.aws import Provisioned

FILE_NAME = "outputs.json"
#: The runner's function logs, one JSON object a line (``make trace`` reads them).
LOG_NAME = "functions.log"


def runner_outputs(
    provisioned: Provisioned,
    *,
    state_dir: Path,
    aws_endpoint: str,
    api_url: str | None,
) -> dict[str, str]:
    """What the running runner publishes, by output key."""
    values = {
        outputs.STATE_DIR: str(state_dir),
        outputs.AWS_ENDPOINT: aws_endpoint,
        outputs.DATABASE_URL: os.environ.get("DATABASE_URL", ""),
        outputs.REDIS_URL: os.environ.get("REDIS_URL", ""),
        outputs.LOG_FILE: str(state_dir / LOG_NAME),
    }
    if api_url:
        values[outputs.API_URL] = api_url
    for name, url in provisioned.queue_urls.items():
        values[outputs.queue_url(name)] = url
    for name, url in provisioned.dlq_urls.items():
        values[outputs.dead_letter_url(name)] = url
    for name, bucket in provisioned.buckets.items():
        values[outputs.bucket_name(name)] = bucket
    for name, arn in provisioned.secret_arns.items():
        values[outputs.secret_arn(name)] = arn
    return values


def write(state_dir: Path, values: dict[str, str]) -> Path:
    path = state_dir / FILE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    tmp.chmod(0o600)  # it holds the database URL
    tmp.replace(path)
    return path


def read(state_dir: Path) -> dict[str, str]:
    """The outputs of the runner on ``state_dir``; ``FileNotFoundError`` when none runs."""
    values: dict[str, str] = json.loads((state_dir / FILE_NAME).read_text())
    return values


def remove(state_dir: Path) -> None:
    (state_dir / FILE_NAME).unlink(missing_ok=True)
