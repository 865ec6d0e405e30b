"""Synthesizing the CDK app in tests: one synth, templates read from the cloud assembly."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.registry import Registry

#: Logical id prefixes of the functions of infra/lambdas, which no declaration makes.
INFRA_FUNCTIONS = ("RestoreCheck",)


@dataclass
class Synthesized:
    """One synthesized environment: its registry, templates and stack artifacts."""

    registry: Registry
    stateful: Any  # aws_cdk.assertions.Template
    api: Any
    stateful_artifact: Any  # aws_cdk.cx_api.CloudFormationStackArtifact
    api_artifact: Any
    api_stack: Any  # infra.stacks.ApiStack
    recovery: Any = None  # the recovery region's stack, where the stage has one
    recovery_artifact: Any = None
    _templates: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def resources(self, template: Any, type_: str) -> dict[str, dict[str, Any]]:
        """The resources of ``type_``, as synthesized (metadata included): copies, from the
        template file read once (``artifact.template`` would pass the whole template through
        jsii on every call, tens of milliseconds and a large string in Node's heap each)."""
        kind = {id(self.api): "api", id(self.recovery): "recovery"}.get(id(template), "stateful")
        if kind not in self._templates:
            artifact = {
                "api": self.api_artifact,
                "recovery": self.recovery_artifact,
                "stateful": self.stateful_artifact,
            }[kind]
            self._templates[kind] = json.loads(Path(artifact.template_full_path).read_text())
            if kind == "api":  # and its nested stacks' (infra.stacks.api.NESTED_SERVICES)
                for nested in self.nested_templates().values():
                    self._templates[kind]["Resources"].update(nested["Resources"])
        resources: dict[str, dict[str, Any]] = self._templates[kind]["Resources"]
        return {k: copy.deepcopy(r) for k, r in resources.items() if r["Type"] == type_}

    def nested_templates(self) -> dict[str, dict[str, Any]]:
        """The API stack's nested stacks' templates, by file name."""
        if "nested" not in self._templates:
            outdir = Path(self.api_artifact.assembly.directory)
            self._templates["nested"] = {
                path.name: json.loads(path.read_text())
                for path in sorted(outdir.glob("*.nested.template.json"))
            }
        return self._templates["nested"]

    def _logical_id(self, construct: Any) -> str:
        """A construct's logical id in its own stack (the API stack or a nested one)."""
        import aws_cdk as cdk

        stack = cdk.Stack.of(construct)
        return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))

    def _through_outputs(self, reference: Any) -> str:
        """``reference`` as text, with each nested stack output it reads replaced by what the
        output holds (a reference from the API stack to a nested stack's resource)."""
        text = json.dumps(reference)
        for template in self.nested_templates().values():
            for name, output in template.get("Outputs", {}).items():
                if f'"Outputs.{name}"' in text:
                    text += json.dumps(output["Value"])
        return text

    def dereference(self, value: Any) -> Any:
        """``value``, or what it reads when it reads a nested stack's output (``Fn::GetAtt``
        of ``Outputs.<name>``): the reference inside the nested stack."""
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            attribute = str(value["Fn::GetAtt"][1])
            if attribute.startswith("Outputs."):
                name = attribute.removeprefix("Outputs.")
                for template in self.nested_templates().values():
                    if name in template.get("Outputs", {}):
                        return template["Outputs"][name]["Value"]
        return value

    def functions(self) -> dict[str, dict[str, Any]]:
        """The API stack's functions made by StratusFunction for the registry (they all carry
        the layer and APP_VERSION; CDK's own, such as the site deployment's, carry neither or
        only a layer), not the infrastructure's own (``infra/lambdas``: the restore check)."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources(self.api, "AWS::Lambda::Function").items()
            if resource["Properties"].get("Layers")
            and "APP_VERSION" in resource["Properties"].get("Environment", {}).get("Variables", {})
            and not logical_id.startswith(INFRA_FUNCTIONS)
        }

    def function(self, name: str) -> tuple[str, dict[str, Any]]:
        """The logical id and resource of the function of registry entry ``name``."""
        logical_id = self._logical_id(self.api_stack.functions[name].function)
        return logical_id, self.functions()[logical_id]

    def alias(self, name: str) -> str:
        """The logical id of the ``live`` alias of registry entry ``name``'s function."""
        alias = self.api_stack.functions[name].alias
        assert alias is not None, f"{name} has no live alias"
        return self._logical_id(alias)

    def invoked(self, reference: Any) -> str:
        """The logical id of the function that ``reference`` (a ``FunctionName``, a target's
        ``Arn``, an integration's ``Uri``) invokes, through its ``live`` alias: refused when it
        names the function itself (``$LATEST``, where SnapStart never applies)."""
        aliases = {
            alias_id: alias["Properties"]["FunctionName"]["Ref"]
            for alias_id, alias in self.resources(self.api, "AWS::Lambda::Alias").items()
        }
        text = self._through_outputs(reference)
        named = {alias_id for alias_id in aliases if f'"{alias_id}"' in text}
        assert len(named) == 1, f"{reference} invokes no live alias (or several)"
        assert not any(f'"{fn}"' in text for fn in aliases.values()), reference
        return aliases[named.pop()]

    def policy_statements(self, name: str) -> list[dict[str, Any]]:
        """Every IAM statement attached to the role of registry entry ``name``'s function."""
        _, function = self.function(name)
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        return [
            statement
            for policy in self.resources(self.api, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def problems(self, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """Warnings and errors the synth reported, except those whose text names ``ignore``.

        Read from the cloud assembly's manifest (plain JSON), not through jsii: aws-cdk-lib and
        aws-cdk.cloud-assembly-schema both install ``aws_cdk/cloud_assembly_schema``, and which
        copy wins depends on install order, which decides whether jsii can hand back a
        ``MetadataEntry`` at all."""
        found = []
        for artifact in (self.stateful_artifact, self.api_artifact):
            outdir = Path(artifact.assembly.directory)
            manifest = json.loads((outdir / "manifest.json").read_text())["artifacts"][artifact.id]
            metadata = manifest.get("metadata", {})
            if "additionalMetadataFile" in manifest:
                metadata.update(
                    json.loads((outdir / manifest["additionalMetadataFile"]).read_text())
                )
            for path, entries in metadata.items():
                for entry in entries:
                    if entry["type"] not in {"aws:cdk:warning", "aws:cdk:error"}:
                        continue
                    data = str(entry["data"])
                    if not any(i in data for i in ignore):
                        found.append(f"{path}: {data}")
        return found


def synthesize(
    registry: Registry,
    *,
    layer_dir: Path,
    outdir: Path,
    env: str = "dev",
    context: dict[str, Any] | None = None,
) -> Synthesized:
    """Synthesize ``registry`` into ``outdir`` and read the templates from the cloud assembly
    (``Template.from_stack`` would synthesize the whole app again for every stack)."""
    from aws_cdk.assertions import Template

    from infra.app import build_app, recovery_stack_name, stack_names

    # A stand-in for web/out, so that what the tests see does not depend on whether the app
    # was built on this machine (-c site_dir= overrides it).
    context = {"site_dir": str(fake_site(outdir.parent / f"{outdir.name}-site")), **(context or {})}
    app = build_app(
        registry=registry, env=env, layer_dir=layer_dir, outdir=str(outdir), context=context
    )
    assembly = app.synth()
    stateful_name, api_name = stack_names(env)
    stateful = assembly.get_stack_by_name(stateful_name)
    api = assembly.get_stack_by_name(api_name)
    names = {stack.stack_name for stack in assembly.stacks}
    recovery = (
        assembly.get_stack_by_name(recovery_stack_name(env))
        if recovery_stack_name(env) in names
        else None
    )
    return Synthesized(
        registry=registry,
        stateful=Template.from_json(stateful.template),
        api=Template.from_json(api.template),
        stateful_artifact=stateful,
        api_artifact=api,
        api_stack=app.node.find_child(api_name),
        recovery=Template.from_json(recovery.template) if recovery is not None else None,
        recovery_artifact=recovery,
    )


def fake_site(directory: Path) -> Path:
    """A minimal exported app: a page and a content-hashed script."""
    (directory / "_next" / "static" / "chunks").mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text("<!doctype html><title>Stratus</title>")
    (directory / "_next" / "static" / "chunks" / "app-0123abcd.js").write_text("0")
    return directory


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    """The actions the IAM ``statements`` name (an ``Action`` is a string or a list)."""
    found: set[str] = set()
    for statement in statements:
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


#: The services whose calls the local runner checks against ``functions/grants.py``.
RUNNER_CHECKED = ("s3:", "sqs:", "secretsmanager:", "ses:", "bedrock:")


def grant_mismatches(env: Synthesized) -> dict[str, tuple[set[str], set[str]]]:
    """Every function whose role allows other actions, on the services the local runner checks,
    than the grants table earns it: name -> (allowed by the role, earned by the table)."""
    from functions.grants import statements, trigger_statements

    found = {}
    for entry in env.registry:
        fn = entry.function
        earned = [s for access in fn.needs for s in statements(access)]
        earned += trigger_statements(fn.trigger)
        expected = {a for s in earned for a in s.actions if a.startswith(RUNNER_CHECKED)}
        allowed = {
            a for a in actions_of(env.policy_statements(entry.name)) if a.startswith(RUNNER_CHECKED)
        }
        if allowed != expected:
            found[entry.name] = (allowed, expected)
    return found
