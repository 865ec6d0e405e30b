"""The webhooks' sending path in AWS, from the synthesized templates: the sender runs outside
the VPC (it must reach the internet, and the VPC has no NAT gateway) with nothing but its own
queue and the outcome queue; the dispatcher and the recorder run inside it, next to the
database; an attempt is never redriven to a second call; and every stack stays under
CloudFormation's 500 resources (the webhooks live in a nested stack of the API stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.synth import actions_of

pytestmark = pytest.mark.infra

#: CloudFormation's limit of resources per stack (a nested stack counts on its own).
MAX_RESOURCES = 500


def _templates(synthesized) -> dict[str, dict]:
    outdir = Path(synthesized.api_artifact.assembly.directory)
    return {path.name: json.loads(path.read_text()) for path in outdir.glob("*.template.json")}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_stack_stays_under_cloudformations_resource_limit(env, synthesized, synthesized_prod):
    chosen = synthesized if env == "dev" else synthesized_prod
    counts = {name: len(t["Resources"]) for name, t in _templates(chosen).items()}
    assert any(".nested." in name for name in counts), "the webhooks' nested stack is missing"
    assert all(count < MAX_RESOURCES for count in counts.values()), counts


def test_the_sender_is_outside_the_vpc_with_only_its_queues(synthesized_prod):
    s = synthesized_prod
    _, sender = s.function("webhooks-send")
    properties = sender["Properties"]
    assert "VpcConfig" not in properties  # it reaches the internet directly
    env = properties["Environment"]["Variables"]
    assert not {k for k in env if k.startswith(("DATABASE", "REDIS", "WEBHOOK_KEYS"))}
    assert "WEBHOOK_OUTCOMES_QUEUE_URL" in env
    # No database, no secret, no key: the message brings the signed call, nothing to sign it.
    # Its role: traces, sending to the outcome queue, consuming its own queue; nothing else.
    granted = {
        (tuple(sorted(actions_of([st]))), json.dumps(st["Resource"]))
        for st in s.policy_statements("webhooks-send")
    }
    outcomes = s._logical_id(s.api_stack.queues["webhook-outcomes"].queue)
    own = s._logical_id(s.api_stack.queues["webhook-send"].queue)
    assert granted == {
        (("xray:PutTelemetryRecords", "xray:PutTraceSegments"), '"*"'),
        (
            ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"),
            json.dumps({"Fn::GetAtt": [outcomes, "Arn"]}),
        ),
        (
            (
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
            ),
            json.dumps({"Fn::GetAtt": [own, "Arn"]}),
        ),
    }


@pytest.mark.parametrize("name", ["webhooks-dispatch", "webhooks-record"])
def test_the_dispatcher_and_recorder_run_in_the_vpc(synthesized_prod, name):
    _, function = synthesized_prod.function(name)
    assert "VpcConfig" in function["Properties"]


def test_only_registration_rotation_and_the_dispatcher_read_the_sealing_keys(synthesized_prod):
    s = synthesized_prod
    readers = {
        entry.name
        for entry in s.registry
        if "WEBHOOK_KEYS_SECRET_ARN"
        in s.function(entry.name)[1]["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert readers == {"webhooks-create", "webhooks-rotate-secret", "webhooks-dispatch"}


def test_a_send_is_never_redriven_into_a_second_call(synthesized_prod):
    # The send queue gives a message one receive: one that fails goes to its dead-letter queue
    queues = synthesized_prod.resources(synthesized_prod.api, "AWS::SQS::Queue")
    send_queue = synthesized_prod._logical_id(
        synthesized_prod.api_stack.queues["webhook-send"].queue
    )
    redrive = queues[send_queue]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 1
    # and is FIFO: a second copy of a prepared call (deduplicated per attempt) is dropped
    assert queues[send_queue]["Properties"]["FifoQueue"] is True
    # and the sender takes one message at a time, so one receiver's stall delays no other
    mappings = synthesized_prod.resources(synthesized_prod.api, "AWS::Lambda::EventSourceMapping")
    sizes = [
        m["Properties"]["BatchSize"]
        for m in mappings.values()
        if send_queue in json.dumps(m["Properties"]["EventSourceArn"])
    ]
    assert sizes == [1]
