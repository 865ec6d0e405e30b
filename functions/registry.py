"""The registry: finds every function declared under ``functions/<service>/<name>/handler.py``.

The CDK app, the local runner, the OpenAPI document and ``events/`` are all derived from it.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

from shared.platform.declare import (
    AuthorizerTrigger,
    Bucket,
    DeployTrigger,
    Function,
    QueueTrigger,
    Route,
    ScheduleTrigger,
    Secret,
)

FUNCTIONS_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUNCTIONS_DIR.parent


@dataclass(frozen=True)
class Entry:
    """One discovered function."""

    name: str  # "<service>-<name>", unique; the Lambda function's logical name
    service: str
    folder: Path  # the function's deployment asset
    module: ModuleType

    @property
    def function(self) -> Function:
        fn = self.module.function
        assert isinstance(fn, Function), f"{self.folder}/handler.py: `function` is no Function"
        return fn

    @property
    def kind(self) -> str:
        return self.function.kind

    @property
    def handler_name(self) -> str:
        """The Lambda handler string inside the function's asset."""
        return "handler.handler"


class Registry:
    """Every function under ``root``, plus the buckets and secrets they share."""

    def __init__(
        self,
        entries: list[Entry],
        *,
        buckets: tuple[Bucket, ...] = (),
        secrets: tuple[Secret, ...] = (),
    ) -> None:
        self.entries = sorted(entries, key=lambda e: e.name)
        self.buckets = buckets
        self.secrets = secrets
        names = [e.name for e in self.entries]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate function names: {sorted(dupes)}")
        routes = [(r.method, r.path) for _, r in self.routes]
        if len(routes) != len(set(routes)):
            raise ValueError("two functions declare the same route")
        queues = [q.queue for _, q in self.queues]
        if len(queues) != len(set(queues)):
            raise ValueError("two workers declare the same queue")
        if len(self.authorizers) > 1:
            raise ValueError("more than one authorizer is declared")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entries)

    def __getitem__(self, name: str) -> Entry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no function named {name!r}; known: {[e.name for e in self.entries]}")

    @cached_property
    def routes(self) -> list[tuple[Entry, Route]]:
        return [
            (e, e.function.trigger) for e in self.entries if isinstance(e.function.trigger, Route)
        ]

    @cached_property
    def queues(self) -> list[tuple[Entry, QueueTrigger]]:
        return [
            (e, e.function.trigger)
            for e in self.entries
            if isinstance(e.function.trigger, QueueTrigger)
        ]

    @cached_property
    def schedules(self) -> list[tuple[Entry, ScheduleTrigger]]:
        return [
            (e, e.function.trigger)
            for e in self.entries
            if isinstance(e.function.trigger, ScheduleTrigger)
        ]

    @cached_property
    def deploy_jobs(self) -> list[tuple[Entry, DeployTrigger]]:
        return [
            (e, e.function.trigger)
            for e in self.entries
            if isinstance(e.function.trigger, DeployTrigger)
        ]

    @cached_property
    def authorizers(self) -> list[tuple[Entry, AuthorizerTrigger]]:
        return [
            (e, e.function.trigger)
            for e in self.entries
            if isinstance(e.function.trigger, AuthorizerTrigger)
        ]

    @property
    def authorizer(self) -> Entry | None:
        return self.authorizers[0][0] if self.authorizers else None

    def match(self, method: str, path: str) -> tuple[Entry, Route, dict[str, str]] | None:
        """The route serving ``method path``, with its path parameters, as API Gateway routes."""
        for entry, route in self.routes:
            if route.method == method.upper():
                found = route.path_regex.match(path)
                if found:
                    return entry, route, found.groupdict()
        return None


def _load(handler: Path, module_name: str) -> ModuleType:
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, handler)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def discover(
    root: Path = FUNCTIONS_DIR,
    *,
    buckets: tuple[Bucket, ...] | None = None,
    secrets: tuple[Secret, ...] | None = None,
) -> Registry:
    """Import every ``<root>/<service>/<name>/handler.py`` and collect its declaration."""
    if buckets is None or secrets is None:
        from functions import resources

        buckets = resources.BUCKETS if buckets is None else buckets
        secrets = resources.SECRETS if secrets is None else secrets
    prefix = "functions" if root == FUNCTIONS_DIR else f"_functions_{abs(hash(root))}"
    entries = []
    for handler in sorted(root.glob("*/*/handler.py")):
        service, name = handler.parent.parent.name, handler.parent.name
        module = _load(handler, f"{prefix}.{service}.{name}.handler")
        entries.append(
            Entry(
                name=f"{service}-{name}".replace("_", "-"),
                service=service,
                folder=handler.parent,
                module=module,
            )
        )
    return Registry(entries, buckets=buckets, secrets=secrets)
