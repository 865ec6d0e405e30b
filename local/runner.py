"""The local runner: the whole of Stratus in one process on loopback.

Start order: moto (S3, SQS, SES, Secrets Manager) → the declared resources → the database
(embedded PostgreSQL under ``.local/postgres`` unless ``DATABASE_URL``) and its migrations →
Redis (embedded unless ``REDIS_URL``) → the API on ``PORT`` → one poller per worker queue → the
schedules. Every function runs its real handler on a real event.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.registry import REPO_ROOT, Entry, Registry
from local.aws import (
    LocalState,
    MotoServer,
    Provisioned,
    aws_environment,
    physical_name,
    provision,
)
from local.gateway import Gateway, HttpServer, Reply
from local.invoke import Invocation, invoke
from local.isolation import IsolatedInvoker
from local.s3proxy import Credentials, S3Proxy

LOCAL_DIR = REPO_ROOT / ".local"
#: The exported web app (``make web`` builds it): served on the runner's origin when present.
WEB_DIR = REPO_ROOT / "web" / "out"
#: Swagger UI's files, served from the fastapi-offline package (Swagger UI 5: OpenAPI 3.1; the
#: swagger-ui-bundle package ships Swagger UI 4, which refuses a 3.1 document).
DOCS_ASSETS = "/docs/assets/"
#: What the runner passes on to its functions for webhooks (shared/webhooks/config.py).
WEBHOOK_VARIABLES = ("WEBHOOKS_ALLOW_LOOPBACK", "WEBHOOK_RETRY_SCALE", "WEBHOOK_TIMEOUT_SECONDS")


#: How long a stopping runner waits for each queue poller to finish its batch.
POLLER_GRACE_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def runtime_environment() -> dict[str, str]:
    """What every function sees in the runner besides its resources. Set it before handlers
    are imported: Powertools reads its log level when the logger is created."""
    from infra.config import metrics_namespace, project_version

    return {
        "STAGE": "local",
        "APP_VERSION": project_version(),  # what /health reports, as the CDK app stamps it
        "POWERTOOLS_TRACE_DISABLED": "true",
        # The functions print their EMF metrics; the runner collects them (local/telemetry.py).
        "POWERTOOLS_METRICS_DISABLED": "false",
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace("local"),
        "POWERTOOLS_LOG_LEVEL": os.environ.get("FUNCTION_LOG_LEVEL", "WARNING"),
        "DATABASE_POOL_SIZE": "5",
    }


@dataclass
class RunnerConfig:
    """What the runner honours from the environment (see the README)."""

    port: int = 3000
    aws_port: int = 0  # 0: any free port
    database_url: str | None = None  # default: embedded PostgreSQL under .local/ (local.postgres)
    redis_url: str | None = None  # default: an embedded Redis-compatible server
    state_dir: Path = LOCAL_DIR
    function_env: dict[str, str] = field(default_factory=dict)
    schedules: bool = True
    web_dir: Path | None = None  # the exported web app to serve on the runner's origin
    #: Each function in processes of its own (local/isolation.py); False: every function on the
    #: runner's threads, sharing its environment (a debugger's breakpoint in a handler).
    isolated: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RunnerConfig:
        env = dict(os.environ if environ is None else environ)
        passthrough: dict[str, str] = {
            k: env[k]
            for k in (
                "RATE_LIMIT_PER_MINUTE",
                "MAX_UPLOAD_BYTES",
                "ADMIN_EMAIL",
                "ADMIN_PASSWORD",
                *WEBHOOK_VARIABLES,
            )
            if k in env
        }
        return cls(
            port=int(env.get("PORT", "3000")),
            aws_port=int(env.get("AWS_PORT", "0")),
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            function_env=passthrough,
            state_dir=Path(env.get("LOCAL_STATE_DIR") or LOCAL_DIR),
            web_dir=_web_dir(env.get("WEB_DIR")),
            isolated=env.get("LOCAL_ISOLATION", "processes").lower() != "threads",
        )


def _web_dir(given: str | None) -> Path | None:
    """``WEB_DIR`` (``none`` for no web app), else ``web/out`` when it has been built."""
    if given:
        return None if given.lower() == "none" else Path(given)
    return WEB_DIR if (WEB_DIR / "index.html").is_file() else None


class LocalRunner:
    """Owns every emulated part; ``start()`` brings them up, ``stop()`` takes them down."""

    def __init__(self, registry: Registry, config: RunnerConfig, *, serve: bool = True) -> None:
        self.registry = registry
        self.config = config
        self.serve = serve  # False: resources, database and Redis only (``make invoke``)
        self.moto: MotoServer | None = None
        self.s3proxy: S3Proxy | None = None  # S3 with presigned POST policies enforced
        self.redis_server: Any = None
        self.postgres: Any = None  # local.postgres.EmbeddedPostgres when DATABASE_URL is unset
        self.http: HttpServer | None = None
        self.provisioned = Provisioned()
        self.pollers: list[Any] = []
        self.scheduler: Any = None
        self.state: LocalState | None = None
        self._stop = threading.Event()
        self._saved_env: dict[str, str | None] = {}
        self.isolation: IsolatedInvoker | None = None
        self._log_handler: Any = None
        from local.telemetry import EmfCollector

        self.metrics = EmfCollector()
        self._tee: Any = None
        self._collecting: Any = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        if self.config.isolated:
            # First, before any thread of the runner starts: the zygote is forked from here.
            self.isolation = IsolatedInvoker(self.registry, names=self._resource_names)
            self.isolation.start()
        self.moto = MotoServer(self.config.aws_port or free_port())
        self.moto.start()
        self._set_env(aws_environment(self.moto.endpoint))
        # -- S3 proxy (local/s3proxy.py): every function's S3 call goes through it --
        aws_env = aws_environment(self.moto.endpoint)
        self.s3proxy = S3Proxy(
            self.moto.endpoint,
            Credentials(
                access_key=aws_env["AWS_ACCESS_KEY_ID"],
                secret_key=aws_env["AWS_SECRET_ACCESS_KEY"],
                session_token=aws_env["AWS_SESSION_TOKEN"],
                region=aws_env["AWS_REGION"],
            ),
        )
        self.s3proxy.start()
        self._set_env({"AWS_ENDPOINT_URL_S3": self.s3proxy.endpoint})
        # -- end S3 proxy --
        self._set_env(runtime_environment())
        from shared.platform.observability import metrics

        # The metrics object may predate this environment (created when a handler was imported).
        metrics.namespace = os.environ["POWERTOOLS_METRICS_NAMESPACE"]
        import boto3

        # what the last run saved under state_dir/aws (local.aws.LocalState) comes back
        self.state = LocalState(self.config.state_dir)
        self.provisioned = provision(
            self.registry, boto3.Session(), self.moto.endpoint, state=self.state
        )
        self._set_env(self.provisioned.environment())
        self._set_env({"DATABASE_URL": self._database_url(), "REDIS_URL": self._redis_url()})
        self._set_env(self.config.function_env)
        self._reset_clients()
        self._start_log_file()
        from local import telemetry

        self._tee = telemetry.install()
        self._collecting = telemetry.collect(self.metrics)
        self._run_deploy_jobs()
        self._publish_outputs()
        if not self.serve:
            self._started()
            return
        self._start_workers()
        gateway = Gateway(self.registry, extra_routes={}, invoker=self.invoke)
        self.http = HttpServer(gateway, self.config.port)
        self.http.gateway.extra_routes = self._runner_routes()
        self.http.gateway.sites = self._sites()
        assert self.s3proxy is not None
        # The uploads bucket's CORS rule: the page on the runner's origin (as 127.0.0.1 and as
        # localhost), and a frontend served elsewhere (FRONTEND_ORIGIN), may upload and download.
        port = self.http.port
        origins = {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}
        if self.http.gateway.frontend_origin:
            origins.add(self.http.gateway.frontend_origin)
        self.s3proxy.allow_origins(origins)
        if not os.environ.get("APP_URL"):  # the links in emails lead to this origin's app
            self._set_env({"APP_URL": self.url})
            self._reset_settings()
        self.http.start()
        self._publish_outputs()
        self._started()

    def _started(self) -> None:
        if self.isolation is not None:
            self.isolation.warm_up()  # now that it competes with no part of the start

    def stop(self) -> None:
        self._stop.set()
        from local import outputs, telemetry

        outputs.remove(self.config.state_dir)
        telemetry.stop_log_file(self._log_handler)
        telemetry.uninstall(self._tee)
        telemetry.stop_collecting(self._collecting)
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:  # let each finish its batch, as Lambda would
            poller.join(timeout=POLLER_GRACE_SECONDS)
        if self.http is not None:
            self.http.stop()
        if self.isolation is not None:
            self.isolation.stop()
        self._save_state()
        if self.redis_server is not None:
            self.redis_server.shutdown()
            self.redis_server.server_close()
        self._reset_clients()
        if self.s3proxy is not None:  # S3 proxy (local/s3proxy.py)
            self.s3proxy.stop()
        if self.moto is not None:
            self.moto.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.postgres is not None:  # embedded PostgreSQL (local/postgres.py), last
            self.postgres.stop()

    def invoke(self, entry: Entry, event: dict[str, Any], *, quiet: bool = False) -> Invocation:
        """Invoke ``entry`` as the runner does: in its own processes unless ``isolated`` is off."""
        if self.isolation is not None:
            return self.isolation.invoke(entry, event, quiet=quiet)
        return invoke(entry, event, quiet=quiet)

    def _resource_names(self) -> dict[tuple[str, str], str]:
        """Physical name, URL or ARN -> declared name, for the guard's messages and checks."""
        names: dict[tuple[str, str], str] = {}
        for name, physical in self.provisioned.buckets.items():
            names[("bucket", physical)] = name
        for name, url in self.provisioned.queue_urls.items():
            names[("queue", physical_name(name))] = name
            names[("queue", url.rsplit("/", 1)[-1])] = name  # a FIFO queue's ends in .fifo
        for name, arn in self.provisioned.secret_arns.items():
            names[("secret", arn)] = name
            names[("secret", physical_name(name))] = name
        return names

    def _save_state(self) -> None:
        """Save moto's objects and messages for the next start (local.aws.LocalState)."""
        if self.moto is None or self.state is None or not self.provisioned.buckets:
            return
        import boto3

        session = boto3.Session()
        endpoint = self.moto.endpoint
        held: dict[str, list[dict[str, Any]]] = {}
        for poller in self.pollers:
            held[poller.trigger.queue] = poller.held_messages()
        try:
            self.state.save_objects(
                session.client("s3", endpoint_url=endpoint), self.provisioned.buckets.values()
            )
            queues = {**self.provisioned.queue_urls}
            queues.update({f"{n}-dlq": u for n, u in self.provisioned.dlq_urls.items()})
            self.state.save_messages(session.client("sqs", endpoint_url=endpoint), queues, held)
        except Exception as exc:  # never keep the runner from stopping
            print(f"! could not save the local AWS state: {exc!r}", flush=True)

    @property
    def url(self) -> str:
        assert self.http is not None
        return f"http://127.0.0.1:{self.http.port}"

    # ---- parts --------------------------------------------------------------------------------

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    @staticmethod
    def _reset_settings() -> None:
        from shared.platform.settings import reset_settings

        reset_settings()

    def _sites(self) -> tuple[Any, ...]:
        """Swagger UI's assets (from a package: /docs works offline), and the web app when
        there is one."""
        import fastapi_offline

        from infra.web import SECURITY_HEADERS, content_security_policy
        from local.site import StaticSite

        assets = Path(fastapi_offline.__file__).parent / "static"
        sites = [StaticSite(assets, prefix=DOCS_ASSETS, not_found=None)]
        web_dir = self.config.web_dir
        if web_dir is not None:
            if not (web_dir / "index.html").is_file():
                raise RuntimeError(f"{web_dir} holds no exported web app: run `make web-build`")
            # The CDN's security headers; the page may connect to the local S3 (uploads).
            assert self.s3proxy is not None
            headers = {
                **SECURITY_HEADERS,
                "Content-Security-Policy": content_security_policy([self.s3proxy.endpoint]),
            }
            sites.append(StaticSite(web_dir, headers=headers))
        return tuple(sites)

    @staticmethod
    def _reset_clients() -> None:
        from shared import embeddings, vectors
        from shared.platform import aws, cache, db

        aws.reset()
        db.reset()
        cache.reset()
        embeddings.reset_embedder()
        vectors.reset()

    def _start_log_file(self) -> None:
        """Every function log line (INFO and up) also goes to ``<state dir>/functions.log``,
        whatever the console shows: what ``make trace`` reads."""
        from local import outputs, telemetry

        log_path = self.config.state_dir / outputs.LOG_NAME
        self._log_handler = telemetry.start_log_file(log_path)
        if self.isolation is not None:  # the functions' own processes report here too
            metrics_path = self.config.state_dir / telemetry.METRICS_NAME
            metrics_path.touch()
            self.metrics.follow(metrics_path)
            self.isolation.telemetry = telemetry.ChildTelemetry(
                log_path=str(log_path),
                metrics_path=str(metrics_path),
                console_level=os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            )

    def _publish_outputs(self) -> None:
        """``<state dir>/outputs.json``: what the ops CLI finds this runner's resources by."""
        from local import outputs

        assert self.moto is not None
        values = outputs.runner_outputs(
            self.provisioned,
            state_dir=self.config.state_dir,
            aws_endpoint=self.moto.endpoint,
            api_url=self.url if self.http is not None else None,
        )
        outputs.write(self.config.state_dir, values)

    def _run_deploy_jobs(self) -> None:
        """What a deploy runs before the API takes traffic: the migrations, and the admin of
        ``ADMIN_EMAIL`` + ``ADMIN_PASSWORD`` (put in the admin secret, as a deployer would)."""
        email = self.config.function_env.get("ADMIN_EMAIL")
        password = self.config.function_env.get("ADMIN_PASSWORD")
        secret_arn = os.environ.get("ADMIN_SECRET_ARN")
        if email and password and secret_arn:
            from shared.platform import aws

            aws.client("secretsmanager").put_secret_value(
                SecretId=secret_arn, SecretString=json.dumps({"email": email, "password": password})
            )
        for entry, _ in self.registry.deploy_jobs:
            outcome = self.invoke(entry, {}, quiet=True)
            if outcome.error is not None:
                raise RuntimeError(f"deploy job {entry.name} failed") from outcome.error
            if outcome.result and outcome.result.get("admin") in {"created", "exists"}:
                print(f"admin {email}: {outcome.result['admin']}", flush=True)

    def _database_url(self) -> str:
        if self.config.database_url:
            return self.config.database_url
        from local.postgres import local_database

        self.postgres, url = local_database(self.config.state_dir)
        return url

    def _redis_url(self) -> str:
        if self.config.redis_url:
            return self.config.redis_url
        from fakeredis import TcpFakeServer

        self.redis_server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
        self.redis_server.daemon_threads = True
        threading.Thread(target=self.redis_server.serve_forever, name="redis", daemon=True).start()
        url = f"redis://127.0.0.1:{self.redis_server.server_address[1]}/0"
        import redis

        with redis.Redis.from_url(url) as client:
            client.eval("return 1", 0)  # load the Lua runtime now, not on the first request
        return url

    def _start_workers(self) -> None:
        import boto3

        from local.queues import QueuePoller
        from local.schedules import Scheduler

        assert self.moto is not None
        sqs = boto3.Session().client("sqs", endpoint_url=self.moto.endpoint)
        for entry, trigger in self.registry.queues:
            url = self.provisioned.queue_urls[trigger.queue]
            poller = QueuePoller(entry, trigger, url, sqs, self._stop, invoker=self.invoke)
            poller.start()
            self.pollers.append(poller)
        self.scheduler = Scheduler(
            self.registry, self._stop, enabled=self.config.schedules, invoker=self.invoke
        )
        self.scheduler.start()

    def _runner_routes(self) -> dict[tuple[str, str], Any]:
        """The runner's own pages, never deployed: the OpenAPI document and its viewer."""
        from functions.openapi import build_openapi

        def openapi(_: str, __: bytes) -> Reply:
            doc = build_openapi(self.registry)
            return Reply(200, [("Content-Type", "application/json")], json.dumps(doc).encode())

        def docs(_: str, __: bytes) -> Reply:
            from fastapi.openapi.docs import get_swagger_ui_html

            page = get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="Stratus API (local)",
                swagger_js_url=f"{DOCS_ASSETS}swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}swagger-ui.css",
                swagger_favicon_url=f"{DOCS_ASSETS}favicon.png",
            )
            return Reply(200, [("Content-Type", "text/html; charset=utf-8")], bytes(page.body))

        def metrics(_: str, __: bytes) -> Reply:
            body = self.metrics.prometheus(self._dead_letter_depths())
            return Reply(200, [("Content-Type", "text/plain; version=0.0.4")], body.encode())

        routes: dict[tuple[str, str], Any] = {
            ("GET", "/openapi.json"): openapi,
            ("GET", "/docs"): docs,
            ("GET", "/__local/metrics"): metrics,
        }
        for entry, _ in self.registry.schedules:
            routes[("POST", f"/__local/jobs/{entry.name}")] = self._run_job_route(entry.name)
        return routes

    def _dead_letter_depths(self) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        """What CloudWatch reports of SQS itself: each dead-letter queue's depth (a gauge)."""
        import boto3

        assert self.moto is not None
        sqs = boto3.Session().client("sqs", endpoint_url=self.moto.endpoint)
        depths: dict[tuple[tuple[str, str], ...], float] = {}
        for queue, url in sorted(self.provisioned.dlq_urls.items()):
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths[(("queue", queue),)] = float(attributes.get("ApproximateNumberOfMessages", 0))
        return {"stratus_dead_letter_depth": depths}

    def _run_job_route(self, name: str) -> Any:
        def run(_: str, __: bytes) -> Reply:
            outcome = self.scheduler.run_now(name)
            status = 500 if outcome.error is not None else 200
            body = {"function": name, "result": outcome.result, "error": repr(outcome.error)}
            return Reply(status, [("Content-Type", "application/json")], json.dumps(body).encode())

        return run
