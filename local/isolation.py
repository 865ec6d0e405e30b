"""Each function in execution environments of its own, as Lambda gives it.

The runner forks a *zygote* when it starts, before it starts any thread: a copy of the runner
with every handler already imported. On a function's first invocation the zygote forks a child
for it (milliseconds: the imports are done), and the child keeps its module state (settings,
clients, caches, pools) from one invocation to the next, as a warm Lambda does. Two concurrent
invocations of one function get two children, as Lambda scales out; an idle child is reused.

A child sees only the environment its declaration earns (:func:`function_environment`, from
``functions.grants``, the table the CDK app uses too), and every AWS call it makes through
botocore is checked against its needs first (:func:`guard`): an undeclared queue, bucket, secret,
SES or Bedrock call fails with ``AccessDenied`` naming the missing need, as IAM would refuse it
in AWS, and the refusal is printed on the runner's stderr even when the code swallows it. An
invocation that runs past the function's timeout has its child killed and is answered as Lambda
answers it (``Task timed out after ... seconds``); the next invocation starts a fresh child.

The thread-based invoker (``local.invoke.invoke``) stays for tests that inject faults into a
handler's modules from the test process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from functions.grants import (
    BUCKET_OBJECT_ACTIONS,
    Statement,
    base_environment,
    need_hint,
    statements,
    trigger_statements,
)
from functions.registry import Entry, Registry
from local.invoke import Invocation, invoke, report
from local.telemetry import ChildTelemetry
from shared.platform.declare import NAMED_KINDS, NEED_SETTINGS, Access
from shared.platform.settings import Cors, Limits, Settings, env_name

#: The process basics a child keeps from the runner (Lambda sets its own PATH, LANG, TZ...).
OS_VARIABLES = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
#: What the Lambda runtime gives every function: the region and the role's credentials; locally
#: also the endpoints that point every client at moto and the S3 proxy.
RUNTIME_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_LOG_LEVEL",
)
METRICS_NAMESPACE = "Stratus"  # infra.config.METRICS_NAMESPACE (not imported: it pulls tomllib)


def function_label(entry: Entry) -> str:
    """``functions/<service>/<name>``: where the declaration to fix lives."""
    return f"functions/{entry.folder.parent.name}/{entry.folder.name}"


# ---- the environment a declaration earns ----------------------------------------------------


def settings_classes(entry: Entry) -> tuple[type[Settings], ...]:
    """The settings the function reads: its own, those its needs imply, and for an HTTP
    function the frontend's origin (the CDK app sets ``FRONTEND_ORIGIN`` on those only) and the
    product limits its transport reads (the rate limit per caller)."""
    fn = entry.function
    classes: list[type[Settings]] = [fn.settings]
    classes += [NEED_SETTINGS[kind] for kind in sorted(fn.need_kinds) if kind in NEED_SETTINGS]
    if fn.kind == "http":
        classes += [Cors, Limits]
    return tuple(dict.fromkeys(classes))


def address_variables(registry: Registry) -> frozenset[str]:
    """Every variable that carries a resource's address: a function gets one only by needing it."""
    names = {env_name("database", ""), env_name("cache", "")}
    names |= {env_name("bucket", b.name) for b in registry.buckets}
    names |= {env_name("secret", s.name) for s in registry.secrets}
    names |= {env_name("queue", q.queue) for _, q in registry.queues}
    return frozenset(n for n in names if n)


def function_environment(
    entry: Entry, environ: Mapping[str, str], addresses: frozenset[str]
) -> dict[str, str]:
    """What ``entry`` sees in the runner: the CDK app's variables for it (``functions.grants``)
    with the local addresses of what it needs, the runtime's, and the settings it reads that the
    runner was given; nothing of another function's needs."""
    fn = entry.function
    env = {k: environ[k] for k in (*OS_VARIABLES, *RUNTIME_VARIABLES) if k in environ}
    env.update(
        base_environment(
            service=entry.service,
            stage=environ.get("STAGE", "local"),
            version=environ.get("APP_VERSION", ""),
            metrics_namespace=environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
        )
    )
    for cls in settings_classes(entry):
        for info in cls.model_fields.values():
            alias = info.alias
            if alias and alias in environ and alias not in addresses and alias not in env:
                env[alias] = environ[alias]
    for access in fn.needs:
        variable = access.env
        if variable and variable in environ:
            env[variable] = environ[variable]
    return env


# ---- the grants a declaration earns -----------------------------------------------------------


@dataclass(frozen=True)
class Grants:
    """What one function may call, and how to name the resources it calls."""

    label: str
    statements: tuple[Statement, ...]
    needs: tuple[Access, ...]
    #: (kind, physical name, URL or ARN) -> the declared name, for "bucket", "queue", "secret"
    names: Mapping[tuple[str, str], str] = field(default_factory=dict)

    def check(self, service: str, operation: str, params: Mapping[str, Any], presign: bool) -> None:
        """Raise :class:`UndeclaredAccess` unless a statement grants this call."""
        for action, target, physical in requested(service, operation, params, presign):
            name = self._declared(target, physical)
            if not self._granted(action, target, name):
                raise UndeclaredAccess(self._message(action, target, name, physical), operation)

    def _declared(self, target: str, physical: str) -> str | None:
        kind = {"objects": "bucket", "bucket": "bucket"}.get(target, target)
        if kind not in NAMED_KINDS:
            return ""
        return self.names.get((kind, physical))

    def _granted(self, action: str, target: str, name: str | None) -> bool:
        if name is None:
            return False
        for statement in self.statements:
            same = statement.target == target or (
                statement.target == "own-queue" and target == "queue"
            )
            if same and action in statement.actions and statement.name == name:
                return True
        return False

    def _message(self, action: str, target: str, name: str | None, physical: str) -> str:
        where = {
            "objects": "bucket",
            "bucket": "bucket",
            "queue": "queue",
            "secret": "secret",
            "email": "SES",
            "model": "Bedrock",
        }.get(target)
        if where is None:
            return (
                f"{self.label}: {action} is not granted by any need a function can declare"
                f" (the runner refuses what IAM would)"
            )
        if name is None:
            return (
                f"{self.label}: {action} on {where} {physical!r}: no such resource is declared"
                " (functions/resources.py declares buckets and secrets, a worker its queue)"
            )
        subject = f"{where} {name!r}" if name else where
        level = ""
        if target == "objects":
            level = next(lvl for lvl, acts in BUCKET_OBJECT_ACTIONS.items() if action in acts)
        return (
            f"{self.label}: {action} on {subject} is not declared"
            f" (add {need_hint(target, name, level)} to its needs)"
        )


def function_grants(entry: Entry, names: Mapping[tuple[str, str], str]) -> Grants:
    fn = entry.function
    earned = [s for access in fn.needs for s in statements(access)]
    earned += trigger_statements(fn.trigger)
    return Grants(function_label(entry), tuple(earned), tuple(fn.needs), dict(names))


def requested(
    service: str, operation: str, params: Mapping[str, Any], presign: bool
) -> list[tuple[str, str, str]]:
    """The (IAM action, target, physical resource) pairs one botocore call needs."""
    match service:
        case "s3":
            bucket = str(params.get("Bucket", ""))
            if presign and operation == "CreateBucket":  # generate_presigned_post
                return [("s3:PutObject", "objects", bucket)]
            action, target = S3_ACTIONS.get(
                operation, (f"s3:{operation}", "objects" if "Key" in params else "bucket")
            )
            wanted = [(action, target, bucket)]
            source = params.get("CopySource")
            if source is not None:
                source_bucket = (
                    source.get("Bucket", "")
                    if isinstance(source, Mapping)
                    else str(source).lstrip("/").split("/", 1)[0]
                )
                wanted.append(("s3:GetObject", "objects", str(source_bucket)))
            return wanted
        case "sqs":
            action = SQS_ACTIONS.get(operation, f"sqs:{operation}")
            url = str(params.get("QueueUrl", params.get("QueueName", "")))
            return [(action, "queue", url.rstrip("/").rsplit("/", 1)[-1])]
        case "secretsmanager":
            return [(f"secretsmanager:{operation}", "secret", str(params.get("SecretId", "")))]
        case "ses":
            action = "ses:SendRawEmail" if operation == "SendRawEmail" else f"ses:{operation}"
            return [(action, "email", "")]
        case "bedrock":
            action = "bedrock:InvokeModel" if operation.startswith("InvokeModel") else operation
            return [(action if ":" in action else f"bedrock:{action}", "model", "")]
    return [(f"{service}:{operation}", "other", "")]


#: S3 operations whose IAM action is not ``s3:<operation>`` on an object.
S3_ACTIONS: dict[str, tuple[str, str]] = {
    "HeadObject": ("s3:GetObject", "objects"),
    "GetObject": ("s3:GetObject", "objects"),
    "PutObject": ("s3:PutObject", "objects"),
    "CopyObject": ("s3:PutObject", "objects"),
    "CreateMultipartUpload": ("s3:PutObject", "objects"),
    "UploadPart": ("s3:PutObject", "objects"),
    "UploadPartCopy": ("s3:PutObject", "objects"),
    "CompleteMultipartUpload": ("s3:PutObject", "objects"),
    "DeleteObject": ("s3:DeleteObject", "objects"),
    "DeleteObjects": ("s3:DeleteObject", "objects"),
    "ListObjects": ("s3:ListBucket", "bucket"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "HeadBucket": ("s3:ListBucket", "bucket"),
    "ListObjectVersions": ("s3:ListBucketVersions", "bucket"),
}
SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


class UndeclaredAccess(ClientError):
    """IAM's refusal, as AWS answers a call the role does not allow, naming the missing need."""

    def __init__(self, message: str, operation: str) -> None:
        code = "AccessDenied" if " s3:" in message else "AccessDeniedException"
        response: Any = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        super().__init__(response, operation)
        self.need = message

    def __reduce__(self) -> Any:  # picklable, to travel back to the runner
        return (UndeclaredAccess, (self.need, self.operation_name))


# ---- the guard, in every child ------------------------------------------------------------------

#: The calling function's grants, set in its child; None in any other process (no check).
_grants: Grants | None = None


def guard(params: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any) -> None:
    """botocore's ``before-parameter-build``: the call's action and resource against the needs.
    It runs for requests and for presigned URLs and POSTs alike."""
    grants = _grants
    if grants is None:
        return
    service = model.service_model.signing_name or model.service_model.endpoint_prefix
    presign = bool(context.get("is_presign_request"))
    try:
        grants.check(service, model.name, params, presign)
    except UndeclaredAccess as refused:
        print(f"! {refused.need}", file=sys.stderr, flush=True)
        raise


def install_guard() -> None:
    """Every botocore session made from now on checks its calls (botocore copies
    ``BUILTIN_HANDLERS`` into each new session), and so do the sessions and clients that already
    exist in this process (a client made at import time)."""
    import gc

    import boto3
    import botocore.handlers
    from botocore.client import BaseClient

    spec = ("before-parameter-build", guard)
    if spec not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(spec)
    # Not through a weak proxy: isinstance() asks it for its class, which raises ReferenceError
    # once its object is gone (one left in the test process killed a zygote at its start).
    emitters = [
        o.meta.events
        for o in gc.get_objects()
        if type(o) not in weakref.ProxyTypes and isinstance(o, BaseClient)
    ]
    if boto3.DEFAULT_SESSION is not None:
        emitters.append(boto3.DEFAULT_SESSION.events)
    for emitter in emitters:
        emitter.register("before-parameter-build", guard, unique_id="stratus-local-guard")


# ---- the processes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildSpec:
    name: str
    env: dict[str, str]
    grants: Grants
    telemetry: ChildTelemetry | None = None


def _send(sock: socket.socket, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def _receive(sock: socket.socket, deadline: float | None = None) -> Any:
    header = _read(sock, 8, deadline)
    (size,) = struct.unpack("!Q", header)
    return pickle.loads(_read(sock, size, deadline))  # noqa: S301 - our own child's reply


def _read(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(size - len(chunks), 1 << 20))
        except TimeoutError:
            raise TimeoutError from None
        if not chunk:
            raise EOFError
        chunks += chunk
    return bytes(chunks)


def _die_with_parent() -> None:
    """SIGKILL when the process that forked this one ends (Linux), so nothing outlives it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _forget_inherited_state() -> None:
    """Drop the clients, pools and settings the runner's process may hold, without closing them
    (their sockets are the runner's too): a child makes its own on first use. They are kept
    referenced, so that no finaliser ever closes a socket the runner still uses."""
    from shared import embeddings, vectors
    from shared.platform import aws, cache, db, keyring, observability, secrets, settings

    if db.engine.cache_info().currsize:
        _inherited.append(db.engine())
        db.engine().dispose(close=False)
    if cache.redis.cache_info().currsize:
        _inherited.append(cache.redis())
    if aws.client.cache_info().currsize or aws.session.cache_info().currsize:
        _inherited.append(aws.session() if aws.session.cache_info().currsize else None)
    db.engine.cache_clear()
    db._sessionmaker.cache_clear()
    cache.redis.cache_clear()
    secrets.reset()
    aws.client.cache_clear()
    aws.session.cache_clear()
    keyring.ring.cache_clear()
    observability.get_tracer.cache_clear()
    settings.reset_settings()
    embeddings.reset_embedder()
    vectors.reset()


_inherited: list[Any] = []

#: The needs whose functions call AWS through botocore (the others never make a session).
AWS_KINDS = frozenset({"bucket", "queue", "secret", "email", "embeddings"})
#: What the functions import lazily, on their first invocation (a Lambda imports only what its
#: own path needs): the zygote imports it once for all its children. Measured per function.
WARM_MODULES = (
    "pg8000",
    "sqlalchemy.dialects.postgresql.pg8000",
    "redis",
    "redis.backoff",
    "redis.retry",
    "alembic.migration",  # the deploy job
    "shared.tables",
    "pgvector.sqlalchemy",
    "argon2",  # passwords
    "jwt",  # tokens
    "cryptography.x509",
    "boto3.dynamodb.conditions",  # Powertools' parameters
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.batch",  # the workers
    "aws_lambda_powertools.middleware_factory",
)
#: The AWS services whose models the zygote parses once for all its children.
WARM_SERVICES = ("s3", "sqs", "secretsmanager", "ses")
_loader: Any = None


def warm() -> None:
    """What every child would otherwise import or parse on its first invocation, done once: the
    lazily imported modules (``WARM_MODULES``), the ORM's mappers, and botocore's service models
    (kept in a loader each child's session reuses, as ``shared.platform.aws.renew`` does after a
    SnapStart restore). Nothing connects. Once per process: the zygote runs it, and a process
    that starts many runners (the test suites) runs it itself first, so that every zygote it
    forks inherits the result instead of paying it again."""
    for step in warm_steps():
        step()


def warm_steps() -> list[Callable[[], None]]:
    """:func:`warm`, one step at a time (the zygote serves a child between two), none once
    done."""
    if _loader is not None:
        return []
    import importlib

    def load(module: str) -> Callable[[], None]:
        def step() -> None:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)

        return step

    def mappers() -> None:
        if "sqlalchemy.orm" in sys.modules:
            from sqlalchemy.orm import configure_mappers

            with contextlib.suppress(Exception):
                configure_mappers()

    import boto3

    session: Any = boto3.Session(region_name="us-east-1")  # the stubs type each service

    def build(service: str) -> Callable[[], None]:
        def step() -> None:
            session.client(service, endpoint_url="http://127.0.0.1:9")  # built, never called

        return step

    def keep() -> None:
        global _loader
        _loader = session._session.get_component("data_loader")

    steps = [load(module) for module in WARM_MODULES] + [mappers]
    return [*steps, *(build(service) for service in WARM_SERVICES), keep]


def _adopt_warm_loader() -> None:
    """The child's one boto3 session (``shared.platform.aws.session``) on the zygote's models."""
    from shared.platform import aws

    if _loader is not None:
        aws.session()._session.register_component("data_loader", _loader)


def _zygote_main(control: socket.socket, registry: Registry, warm_up: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    # No death signal here: it would follow the runner's thread that forked the zygote, not the
    # runner. The zygote ends on EOF of its control socket, or when the runner kills it.
    _forget_inherited_state()
    install_guard()
    # The warm-up runs once the runner has started (it says WARM: no competing for the CPU with
    # its start), between requests: a child asked for before is forked at once, and pays for
    # what is not warm yet itself.
    steps = warm_steps() if warm_up else []
    if not steps:
        _freeze()
    allowed = False
    while True:
        while allowed and steps and not select.select([control], [], [], 0)[0]:
            with contextlib.suppress(Exception):  # only saves time
                steps.pop(0)()
            if not steps:
                _freeze()
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 1)
        except OSError:
            return
        if not message:
            return
        if message == WARM:
            allowed = True
            continue
        spec: ChildSpec = pickle.loads(message)  # noqa: S301 - from the runner that forked us
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                control.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _die_with_parent()
                _child_main(spec, socket.socket(fileno=fds[0]), registry)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        os.close(fds[0])
        control.send(struct.pack("!q", pid))


def _freeze() -> None:
    """Everything imported so far is shared with every child from now on: out of the collector's
    sight, so that no collection in a child writes to (and so copies) every page of it."""
    gc.collect()
    gc.freeze()


def _child_main(spec: ChildSpec, sock: socket.socket, registry: Registry) -> None:
    global _grants
    os.environ.clear()
    os.environ.update(spec.env)
    _grants = spec.grants
    from shared.platform import snapstart

    snapstart.reseed()  # no two children replay one random state
    entry = registry[spec.name]
    fn = entry.function
    if fn.need_kinds & AWS_KINDS:
        _adopt_warm_loader()
    fn._instrumented = None  # validated again, in this environment
    if spec.telemetry is not None:
        from local.telemetry import start_in_child

        start_in_child(spec.telemetry)
    if fn.snap_start:
        # Lambda's init phase, before any invocation and outside its timeout: what SnapStart
        # runs before the snapshot (``Function.prime``; a step that fails is only logged).
        fn.prime()
    _send(sock, READY)
    while True:
        try:
            event = _receive(sock)
        except EOFError:
            return
        outcome = invoke(entry, event, quiet=True)
        try:
            pickle.loads(pickle.dumps(outcome))  # noqa: S301 - it must come back in the runner
        except Exception:  # an error or a result that does not travel: as Lambda reports it
            error = outcome.error or TypeError("the handler's result is not serializable")
            failure = FunctionError(type(error).__name__, str(error))
            outcome = Invocation(None, failure, outcome.duration_ms)
        _send(sock, outcome)


#: Execution environments per function at most: Lambda would scale out further, but on a
#: laptop 20 parallel requests to one function would start 20 processes; past this many, an
#: invocation waits for the first one free (its wait is not counted in its timeout).
MAX_ENVIRONMENTS = 4
#: What the runner tells its zygote once it has started: warm up now.
WARM = b"warm"
#: What a child sends once its init phase is over; Lambda's limit on that phase.
READY = "ready"
INIT_TIMEOUT_SECONDS = 10


class InitFailed(Exception):
    """A new execution environment did not get through its init phase: ``error`` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class FunctionError(Exception):
    """A function's error as Lambda reports it: ``errorType`` and ``errorMessage``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type

    def __reduce__(self) -> Any:
        return (FunctionError, (self.error_type, str(self)))


@dataclass
class Child:
    """One execution environment: a process serving one function's invocations in turn."""

    name: str
    pid: int
    sock: socket.socket
    invocations: int = 0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.sock.close()


class Zygote:
    """The warmed parent: a fork of the runner made before any thread starts, which forks one
    child per execution environment on request."""

    def __init__(self, registry: Registry, *, warm: bool = True) -> None:
        self.registry = registry
        self.warm = warm  # False: no warm-up (tests of the processes themselves)
        self.pid = 0
        self._control: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                ours.close()
                _zygote_main(theirs, self.registry, self.warm)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self._control = pid, ours

    def spawn(self, spec: ChildSpec) -> Child:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self._lock:
                if self._control is None:
                    raise RuntimeError("the runner's zygote is not running")
                socket.send_fds(self._control, [pickle.dumps(spec)], [theirs.fileno()])
                reply = self._control.recv(8)
                if len(reply) != 8:
                    raise RuntimeError("the runner's zygote has exited")
                (pid,) = struct.unpack("!q", reply)
        finally:
            theirs.close()
        return Child(spec.name, pid, ours)

    def warm_up(self) -> None:
        """Let the zygote warm up now (see :func:`warm`), between the requests it serves."""
        with self._lock:
            if self._control is not None:
                self._control.send(WARM)

    def stop(self) -> None:
        with self._lock:
            if self._control is not None:
                self._control.close()
                self._control = None
        if self.pid:
            # Killed, not only told by EOF: a zygote another runner of this process forked since
            # holds a copy of this control socket (fork copies every descriptor). Its children
            # die with it (their death signal).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


class IsolatedInvoker:
    """The runner's way to invoke a function: in the function's own processes (see the module's
    docstring). ``environment`` and ``names`` are read when a child is made, so a child sees
    the runner's environment of that moment, as a new execution environment would."""

    def __init__(
        self,
        registry: Registry,
        *,
        environ: Callable[[], Mapping[str, str]] = lambda: os.environ,
        names: Callable[[], Mapping[tuple[str, str], str]] = dict,
        warm: bool = True,
    ) -> None:
        self.registry = registry
        self.environ = environ
        self.names = names
        self.zygote = Zygote(registry, warm=warm)
        self.addresses = address_variables(registry)
        self._idle: dict[str, list[Child]] = {}
        self._children: dict[int, Child] = {}
        self._starting: dict[str, int] = {}
        self._lock = threading.Condition()
        self.spawned = 0  # children made, for the runner's tests
        self.telemetry: ChildTelemetry | None = None  # the runner's logs and metrics, once set

    def start(self) -> None:
        self.zygote.start()

    def warm_up(self) -> None:
        """Once the runner has started: the zygote may warm up."""
        self.zygote.warm_up()

    def stop(self) -> None:
        with self._lock:
            children = list(self._children.values())
            self._children.clear()
            self._idle.clear()
        for child in children:
            child.kill()
        self.zygote.stop()

    def children(self, name: str) -> list[Child]:
        with self._lock:
            return [c for c in self._children.values() if c.name == name]

    def __call__(self, entry: Entry, event: dict[str, Any], *, quiet: bool = False) -> Invocation:
        return self.invoke(entry, event, quiet=quiet)

    def invoke(self, entry: Entry, event: dict[str, Any], *, quiet: bool = False) -> Invocation:
        fn = entry.function
        try:
            child = self._acquire(entry)
        except InitFailed as failed:
            outcome = Invocation(None, failed.error, 0.0)
        else:
            started = time.perf_counter()
            deadline = time.monotonic() + fn.timeout_seconds
            try:
                _send(child.sock, event)
                outcome = _receive(child.sock, deadline)
            except TimeoutError:
                self._discard(child)
                elapsed = (time.perf_counter() - started) * 1000
                say = f"! [{entry.name}] killed at its {fn.timeout_seconds} s timeout"
                print(say, file=sys.stderr)
                limit = f"{fn.timeout_seconds:.2f}"
                error: Exception = TimeoutError(f"Task timed out after {limit} seconds")
                outcome = Invocation(None, error, elapsed)
            except (EOFError, OSError):
                self._discard(child)
                elapsed = (time.perf_counter() - started) * 1000
                error = FunctionError("Runtime.ExitError", f"{entry.name}: the runtime exited")
                outcome = Invocation(None, error, elapsed)
            except Exception as exc:  # an answer the runner cannot read (the child checks first)
                elapsed = (time.perf_counter() - started) * 1000
                error = FunctionError(type(exc).__name__, f"{entry.name}: unreadable answer")
                outcome = Invocation(None, error, elapsed)
            finally:
                self._release(child)
        if not quiet:
            report(entry, outcome)
        return outcome

    def _acquire(self, entry: Entry) -> Child:
        """An idle execution environment of ``entry``, or a new one through its init phase."""
        name = entry.name
        with self._lock:
            while True:
                idle = self._idle.setdefault(name, [])
                if idle:
                    return idle.pop()
                running = sum(1 for c in self._children.values() if c.name == name)
                if running + self._starting.get(name, 0) < MAX_ENVIRONMENTS:
                    self._starting[name] = self._starting.get(name, 0) + 1
                    break
                self._lock.wait()  # as many as allowed are busy: the first one free serves
        try:
            return self._start(entry)
        finally:
            with self._lock:
                self._starting[name] -= 1
                self._lock.notify_all()

    def _start(self, entry: Entry) -> Child:
        spec = ChildSpec(
            entry.name,
            function_environment(entry, self.environ(), self.addresses),
            function_grants(entry, self.names()),
            self.telemetry,
        )
        try:
            child = self.zygote.spawn(spec)
        except (OSError, RuntimeError) as exc:
            raise InitFailed(FunctionError("Runtime.Unknown", f"{entry.name}: {exc}")) from exc
        with self._lock:
            self._children[child.pid] = child
            self.spawned += 1
        try:
            ready = _receive(child.sock, time.monotonic() + INIT_TIMEOUT_SECONDS)
        except TimeoutError:
            self._discard(child)
            message = f"{entry.name}: its init phase ran past {INIT_TIMEOUT_SECONDS} s"
            raise InitFailed(FunctionError("Sandbox.Timedout", message)) from None
        except (EOFError, OSError):
            self._discard(child)
            message = f"{entry.name}: the runtime exited during its init phase"
            raise InitFailed(FunctionError("Runtime.ExitError", message)) from None
        assert ready == READY, ready
        return child

    def _release(self, child: Child) -> None:
        child.invocations += 1
        with self._lock:
            if child.pid in self._children:
                self._idle.setdefault(child.name, []).append(child)
            self._lock.notify_all()

    def _discard(self, child: Child) -> None:
        child.kill()
        self._forget(child)

    def _forget(self, child: Child) -> None:
        with self._lock:
            self._children.pop(child.pid, None)
            self._lock.notify_all()
