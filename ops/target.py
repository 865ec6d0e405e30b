"""Where a verb acts: the local runner, or a deployed stage, and the names of its resources.

A deployed stage's resources are read from its CloudFormation stack outputs (``infra.outputs``
names the keys, the stacks create them); the local runner's from ``.local/outputs.json``, which
it writes when it starts, under the same keys. No verb takes a physical name from its caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import outputs

LOCAL = "local"


class OpsError(Exception):
    """A verb cannot do what was asked; the message says why and what to do."""


@dataclass
class Target:
    """One environment: its stage name, its outputs, and AWS clients pointed at it."""

    stage: str
    values: dict[str, str]
    session: Any = None  # boto3.Session
    endpoint: str | None = None  # the local runner's moto
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL

    def output(self, key: str) -> str:
        value = self.values.get(key)
        if not value:
            where = (
                "the local runner's outputs.json"
                if self.is_local
                else f"the outputs of the stratus-{self.stage} stacks"
            )
            raise OpsError(f"{key} is not in {where}")
        return value

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    def local_state_dir(self) -> Path:
        if not self.is_local:
            raise OpsError(f"this verb runs against the local runner only, not STAGE={self.stage}")
        return Path(self.output(outputs.STATE_DIR))


def local_target(state_dir: Path) -> Target:
    """The local runner on ``state_dir`` (it must be running: it wrote its outputs)."""
    import boto3

    from local import outputs as local_outputs

    try:
        values = local_outputs.read(state_dir)
    except FileNotFoundError:
        raise OpsError(
            f"no local runner is running on {state_dir} (no outputs.json): start it with"
            " `make local`, or set STAGE=dev|prod for a deployed stage"
        ) from None
    from local.aws import aws_environment
    from local.lambda_context import REGION

    fake = aws_environment(values[outputs.AWS_ENDPOINT])  # moto's fake credentials
    session = boto3.Session(
        aws_access_key_id=fake["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=fake["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=fake["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )
    return Target(LOCAL, values, session=session, endpoint=values[outputs.AWS_ENDPOINT])


def deployed_target(stage: str, session: Any = None) -> Target:
    """Stage ``stage``: the outputs of its stateful and API stacks (AWS credentials and region
    from the environment, as the aws CLI takes them)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.app import stack_names

    session = session or boto3.Session()
    cloudformation = session.client("cloudformation")
    values: dict[str, str] = {}
    for name in stack_names(stage):
        try:
            (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except (ClientError, BotoCoreError) as exc:
            raise OpsError(f"cannot read stack {name}: {exc}") from None
        for output in stack.get("Outputs", []):
            values[output["OutputKey"]] = output["OutputValue"]
    return Target(stage, values, session=session)


def resolve(stage: str | None = None, *, state_dir: Path | None = None) -> Target:
    """``STAGE`` unset or ``local``: the local runner (``LOCAL_STATE_DIR`` or ``.local``);
    ``dev``/``prod``: that deployed stage."""
    stage = (stage if stage is not None else os.environ.get("STAGE", "")).strip() or LOCAL
    if stage == LOCAL:
        from local.runner import LOCAL_DIR

        directory = state_dir or Path(os.environ.get("LOCAL_STATE_DIR") or LOCAL_DIR)
        return local_target(directory)
    from infra.config import STAGES

    if stage not in STAGES:
        raise OpsError(f"unknown STAGE={stage}: use local, " + ", ".join(sorted(STAGES)))
    return deployed_target(stage)
