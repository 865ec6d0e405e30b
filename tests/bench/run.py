"""``make bench``: cold starts, restore estimates and warm latency, beside their baselines.

One run, variants alternated (see docs/benchmarks.md for what each figure is). Writes
``build/bench/results.json``, ``docs/benchmarks.png`` and the cold-start part of
``docs/benchmarks.md``; ``tests/bench/budget.py`` reads the results for its verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from functions.grants import RUNTIME_TUNING
from functions.registry import REPO_ROOT, Entry, discover

OUT_DIR = REPO_ROOT / "build" / "bench"
RESULTS = OUT_DIR / "results.json"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
CHART = REPO_ROOT / "docs" / "benchmarks.png"
MEASURED = ("http", "authorizer", "queue", "schedule")  # not the deploy job: once per deploy
#: Tracing on as deployed: sampled, segments sent to a daemon address on loopback (nobody
#: listens; the probes refuse any connection off the machine).
TRACED_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "LAMBDA_TASK_ROOT": str(REPO_ROOT),
    "_X_AMZN_TRACE_ID": (
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    ),
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    "POWERTOOLS_TRACE_DISABLED": "false",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "RATE_LIMIT_PER_MINUTE": "100000000",
    **RUNTIME_TUNING,  # every function's, in AWS and in the local runner
}


@contextmanager
def stores() -> Iterator[dict[str, str]]:
    """A fresh Redis (its own server on a free loopback port) and a fresh Postgres database: on
    a private embedded server (``local.postgres``) unless ``BENCH_PG_ADMIN_URL`` names one."""
    from sqlalchemy import create_engine, text

    from local.postgres import EmbeddedPostgres
    from local.runner import free_port

    port = free_port()
    redis_dir = tempfile.mkdtemp(prefix="stratus-bench-redis-")
    server = subprocess.Popen(
        [  # noqa: S607 - redis-server from PATH, as the developers' brief says
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            redis_dir,
        ],
        stdout=subprocess.DEVNULL,
    )
    name = f"stratus_bench_{uuid.uuid4().hex[:10]}"
    given = os.environ.get("BENCH_PG_ADMIN_URL")
    postgres = None
    admin = None
    if given:
        admin = create_engine(
            given.replace("postgresql://", "postgresql+pg8000://", 1), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        database_url = given.rsplit("/", 1)[0] + f"/{name}"
    else:
        postgres = EmbeddedPostgres(Path(redis_dir) / "pg")
        postgres.start()
        database_url = postgres.create_database(name)
    try:
        time.sleep(0.3)
        yield {"DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        from shared.platform import db

        db.reset()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)


#: A floor: a bare interpreter (and one import), measuring itself as ``probe.cold`` does.
FLOOR = (
    "import os, resource, time\n{statement}\n"
    "u = resource.getrusage(resource.RUSAGE_SELF)\n"
    'print(\'{{"cold_wall_ms": %f, "cold_cpu_ms": %f}}\' % ('
    "(time.monotonic() - float(os.environ['BENCH_SPAWNED_AT'])) * 1000,"
    " (u.ru_utime + u.ru_stime) * 1000))"
)


POWERTOOLS_FLOOR = "transport: pydantic + Powertools' APIGatewayRestResolver"
FASTAPI_FLOOR = "transport: pydantic + FastAPI (as shared.platform.framework imports it) + Mangum"

#: The floors: what a process costs before any function code, and each transport's own imports
#: (the difference between the two transports' is what FastAPI and Mangum cost a cold start
#: over Powertools' resolver, whatever the route does).
FLOORS = {
    "python -c pass": "",
    "python -c 'import boto3'": "import boto3",
    POWERTOOLS_FLOOR: (
        "import pydantic\nfrom aws_lambda_powertools.event_handler import APIGatewayRestResolver"
    ),
    FASTAPI_FLOOR: "import pydantic\nfrom shared.platform import framework\nimport mangum",
}


def figures(stdout: str) -> dict[str, Any]:
    """The figures a probe (or a floor) printed: its last line, one JSON object."""
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a probe; its whole wall time and CPU time (its own rusage, whatever runs beside it)
    in ms, seen from outside (where a run's time goes), and its stdout (its own figures)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        env = {**env, "BENCH_SPAWNED_AT": repr(time.monotonic())}
        started = time.perf_counter()
        child = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = (time.perf_counter() - started) * 1000
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[2:5])} failed: {err.read().strip()[-800:]}")
        return wall, (usage.ru_utime + usage.ru_stime) * 1000, out.read()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.registry = discover()
        from tests.bench.scenarios import SCENARIOS

        chosen = [
            e
            for e in self.registry
            if e.kind in MEASURED and (not args.functions or e.name in args.functions)
        ]
        # A function is measured once it has a success-path scenario (and its baselines);
        # the others are named in the report, never silently left out.
        self.entries = [e for e in chosen if e.name in SCENARIOS]
        self.unmeasured = sorted(e.name for e in chosen if e.name not in SCENARIOS)
        if self.unmeasured:
            print(f"! no scenario, not measured: {', '.join(self.unmeasured)}", flush=True)
        self.events_dir = Path(tempfile.mkdtemp(prefix="stratus-bench-events-"))
        self.pycache = Path(tempfile.mkdtemp(prefix="stratus-bench-pyc-"))
        self.samples: dict[str, dict[str, list[tuple[float, float]]]] = {}
        self.warm: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.loads: list[float] = []
        #: Wall and CPU seconds each kind of work took, summed over its tasks (where a run's
        #: time goes; the CPU is the probes' own, not the Postgres and Redis servers').
        self.costs: dict[str, list[float]] = {}

    def cost(self, what: str, seconds: float, cpu: float | None = None) -> None:
        with self.lock:
            entry = self.costs.setdefault(what, [0.0, 0.0])
            entry[0] += seconds
            entry[1] += seconds if cpu is None else cpu

    # ---- environment ------------------------------------------------------------------------

    def env(self, *, bytecode: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(TRACED_ENV)
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["STRATUS_BENCH_ROUTES"] = os.pathsep.join(
            str(e.folder / "handler.py") for e in self.registry if e.kind == "http"
        )
        if bytecode:
            env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        else:  # every module compiled from source, as from a layer without bytecode
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="stratus-bench-nopyc-")
        return env

    def event_file(self, events: list[dict[str, Any]]) -> Path:
        path = self.events_dir / f"{uuid.uuid4().hex}.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
        return path

    def probe(
        self,
        mode: str,
        variant: str,
        entry: Entry,
        events: list[dict[str, Any]],
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> tuple[float, float, dict[str, Any]]:
        """Run one probe; its wall and CPU seen from outside, and the figures it printed."""
        path = self.event_file(events)
        if mode == "cold":
            cold_event = self.events_dir / f"{uuid.uuid4().hex}.json"
            cold_event.write_text(json.dumps(events[0]))
            path = cold_event
        argv = [
            sys.executable,
            "-m",
            "tests.bench.probe",
            mode,
            variant,
            entry.name,
            entry.kind,
            ",".join(entry.function.traced_modules),
            str(entry.folder / "handler.py"),
            str(path),
            *extra,
        ]
        wall, cpu, out = run_child(argv, env or self.env())
        return wall, cpu, figures(out)

    def record(self, key: str, variant: str, printed: dict[str, Any]) -> None:
        sample = (printed["cold_wall_ms"], printed["cold_cpu_ms"])
        with self.lock:
            self.samples.setdefault(key, {}).setdefault(variant, []).append(sample)
            if variant == "lambdalith":  # and the one function's, over every first request
                self.samples.setdefault("lambdalith", {}).setdefault(variant, []).append(sample)
            self.loads.append(os.getloadavg()[0])

    def warm_events(self, fx: Any, entry: Entry, *, restore: bool) -> list[dict[str, Any]]:
        """One route's warm events: the first call of a restored copy (``restore``), the calls
        with real I/O (one event, replayed, unless the route spends its data: fresh data per
        call), and one to record the stubbed I/O from."""
        from tests.bench.scenarios import CONSUMING, SCENARIOS

        make = SCENARIOS[entry.name]
        extra = 2 if restore else 1
        if entry.name in CONSUMING:
            return [make(fx) for _ in range(self.args.consuming_calls + extra)]
        return [make(fx)] * (1 + extra)

    def plan(self, fx: Any, entries: list[Entry]) -> str:
        """A baseline's warm plan (``probe.cold``): every route's warm events and call counts."""
        routes = [
            {
                "name": entry.name,
                "events": str(self.event_file(self.warm_events(fx, entry, restore=False))),
                "calls": self.args.baseline_warm,
                "seconds": self.args.baseline_warm_seconds,
            }
            for entry in entries
        ]
        path = self.events_dir / f"plan-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(routes))
        return str(path)

    def compile_first(self, fx: Any, routes: list[Entry]) -> None:
        """Fill the bench's bytecode cache before anything is measured, so that no measured
        process compiles what another one did not yet (the first fresh process of a run would
        otherwise pay for compiling every module it imports): unmeasured fresh processes that
        between them import everything the measured ones do (the lambdalith loads every route;
        each worker, and one Powertools handler of each kind)."""
        from tests.bench.scenarios import SCENARIOS

        # every HTTP route's modules: the lambdalith's, and one Powertools handler's
        tasks: list[tuple[str, Entry]] = (
            [("lambdalith", routes[0]), ("powertools", routes[0])] if routes else []
        )
        for entry in self.entries:
            if entry.kind != "http":  # each other function's own, in both variants
                tasks += [("stratus", entry), ("powertools", entry)]
        with ThreadPoolExecutor(max_workers=self.args.parallel) as pool:
            futures = [
                pool.submit(self.probe, "cold", variant, entry, [SCENARIOS[entry.name](fx)])
                for variant, entry in tasks
            ]
            for future in futures:
                wall, cpu, _ = future.result()
                self.cost("bytecode cache filled first (not measured)", wall / 1000, cpu / 1000)

    # ---- the run --------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Phase one: every variant's fresh processes, alternated; a baseline's first fresh
        process goes on with its warm calls (the lambdalith's with every route's). Phase two:
        each Stratus function primed, forked (the restore estimate), then its warm calls."""
        from tests.bench.scenarios import SCENARIOS, Fixtures

        fx = Fixtures(self.registry)
        started = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=self.args.parallel)
        futures = []

        def submit(
            key: str,
            variant: str,
            argv_or_entry: Any,
            events: Any = None,
            env: dict[str, str] | None = None,
            label: str | None = None,
            plan: str | None = None,
        ) -> None:
            def task() -> None:
                if isinstance(argv_or_entry, list):
                    wall, cpu, out = run_child(argv_or_entry, env or self.env())
                    printed = figures(out)
                else:
                    extra = (plan,) if plan else ()
                    wall, cpu, printed = self.probe(
                        "cold", variant, argv_or_entry, events, *extra, env=env
                    )
                self.record(key, label or variant, printed)
                with self.lock:
                    for route, result in printed.get("warm", {}).items():
                        self.warm.setdefault(route, {})[variant] = result
                group = "floor" if key == "floor" else label or variant
                self.cost(f"{'cold and warm' if plan else 'cold'} {group}", wall / 1000, cpu / 1000)

            futures.append(pool.submit(task))

        routes = [e for e in self.entries if e.kind == "http"]
        self.compile_first(fx, routes)
        events_started, events_cpu = time.perf_counter(), time.thread_time()
        for run in range(self.args.runs):
            first_run = run == 0
            for label, statement in FLOORS.items():
                submit("floor", label, [sys.executable, "-c", FLOOR.format(statement=statement)])
            for entry in self.entries:
                if entry.kind == "http" and run < self.args.lambdalith_runs:
                    # the lambdalith serves every route: per route, fresh processes whose first
                    # request is that route's (the same first work as the route's function);
                    # the very first one then serves every route's warm calls
                    first = first_run and entry is routes[0]
                    plan = self.plan(fx, routes) if first else None
                    submit(entry.name, "lambdalith", entry, [SCENARIOS[entry.name](fx)], plan=plan)
                submit(entry.name, "stratus", entry, [SCENARIOS[entry.name](fx)])
                submit(
                    entry.name,
                    "powertools",
                    entry,
                    [SCENARIOS[entry.name](fx)],
                    plan=self.plan(fx, [entry]) if first_run else None,
                )
            if run >= self.args.bytecode_runs:
                continue
            for name in self.args.bytecode_functions:
                if any(e.name == name for e in self.entries):
                    entry = self.registry[name]
                    submit(
                        f"{name} bytecode",
                        "stratus",
                        entry,
                        [SCENARIOS[name](fx)],
                        label="with .pyc",
                    )
                    submit(
                        f"{name} bytecode",
                        "stratus",
                        entry,
                        [SCENARIOS[name](fx)],
                        env=self.env(bytecode=False),
                        label="without .pyc",
                    )
        self.cost(
            "events and their data (main thread)",
            time.perf_counter() - events_started,
            time.thread_time() - events_cpu,
        )
        for future in futures:
            future.result()
        cold_seconds = time.perf_counter() - started

        warm_futures = []
        events_started, events_cpu = time.perf_counter(), time.thread_time()
        for entry in self.entries:
            events = self.warm_events(fx, entry, restore=True)

            def task(entry: Entry = entry, events: list[dict[str, Any]] = events) -> None:
                extra = (str(self.args.warm), str(self.args.warm_seconds))
                wall, cpu, result = self.probe("warm", "stratus", entry, events, *extra)
                self.cost("restore and warm stratus", wall / 1000, cpu / 1000)
                self.cost(f"warm {entry.kind}", wall / 1000, cpu / 1000)
                with self.lock:
                    self.warm.setdefault(entry.name, {})["stratus"] = result

            warm_futures.append(pool.submit(task))
        self.cost(
            "events and their data (main thread)",
            time.perf_counter() - events_started,
            time.thread_time() - events_cpu,
        )
        for future in warm_futures:
            future.result()
        pool.shutdown()
        return self.summary(cold_seconds, time.perf_counter() - started)

    def summary(self, cold_seconds: float, total_seconds: float) -> dict[str, Any]:
        def med(values: list[tuple[float, float]], i: int) -> float:
            return statistics.median(v[i] for v in values)

        cold = {
            key: {
                variant: {"wall_ms": med(v, 0), "cpu_ms": med(v, 1), "runs": len(v)}
                for variant, v in variants.items()
            }
            for key, variants in self.samples.items()
        }
        return {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": (
                f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
            ),
            "load_average": {
                "min": min(self.loads),
                "median": statistics.median(self.loads),
                "max": max(self.loads),
            },
            "seconds": {
                "cold": cold_seconds,
                "total": total_seconds,
                "costs": {
                    what: {"wall": wall, "cpu": cpu}
                    for what, (wall, cpu) in sorted(self.costs.items(), key=lambda kv: -kv[1][0])
                },
            },
            "args": {k: v for k, v in vars(self.args).items()},
            "kinds": {e.name: e.kind for e in self.entries},
            "unmeasured": self.unmeasured,
            "cold": cold,
            "warm": self.warm,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per variant")
    parser.add_argument("--warm", type=int, default=2000, help="warm calls, Stratus functions")
    parser.add_argument("--baseline-warm", type=int, default=2000, help="warm calls, baselines")
    parser.add_argument(
        "--consuming-calls",
        type=int,
        default=20,
        help="warm calls with real I/O of a route that spends its data",
    )
    parser.add_argument(
        "--lambdalith-runs",
        type=int,
        default=3,
        help="fresh lambdalith processes per route (the lambdalith: this many times the routes)",
    )
    parser.add_argument("--parallel", type=int, default=2, help="probes at once")
    parser.add_argument("--bytecode-functions", nargs="*", default=["system-health", "users-get"])
    parser.add_argument(
        "--bytecode-runs", type=int, default=3, help="fresh processes per bytecode variant"
    )
    parser.add_argument(
        "--warm-seconds",
        type=float,
        default=3.0,
        help="at most this long of warm calls with real I/O per Stratus function",
    )
    parser.add_argument(
        "--baseline-warm-seconds",
        type=float,
        default=1.5,
        help="at most this long of warm calls with real I/O per baseline and route",
    )
    parser.add_argument("--no-docs", action="store_true", help="results.json only")
    parser.add_argument("functions", nargs="*")
    args = parser.parse_args(argv)

    from local.runner import LocalRunner, RunnerConfig, runtime_environment
    from shared.platform.observability import logger

    logger.setLevel("WARNING")  # the fixtures' own invocations: no log line each
    began = time.perf_counter()
    with stores() as urls:
        os.environ.update(urls)
        for key, value in runtime_environment().items():
            os.environ.setdefault(key, value)
        os.environ["RATE_LIMIT_PER_MINUTE"] = TRACED_ENV["RATE_LIMIT_PER_MINUTE"]
        config = RunnerConfig.from_env()
        config.state_dir = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
        bench = Bench(args)
        runner = LocalRunner(bench.registry, config, serve=False)
        runner.start()
        setup = time.perf_counter() - began
        try:
            results = bench.run()
        finally:
            runner.stop()
    from tests.bench import budget

    verdict = budget.check(results)  # measures the built shared layer
    seconds = results["seconds"]
    seconds["setup"] = setup
    # the whole run, but for writing this page and its chart (a few seconds)
    seconds["run"] = time.perf_counter() - began
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"results: {RESULTS}")
    if not args.no_docs:
        from tests.bench import report

        report.write(results)
        print(f"wrote {DOC} and {CHART}")
    print(budget.render(verdict))
    costs = ", ".join(
        f"{what} {c['wall']:.0f} s ({c['cpu']:.0f} s CPU)" for what, c in seconds["costs"].items()
    )
    print(f"where the time went (summed over tasks, {args.parallel} at a time): {costs}")
    print(
        f"bench: {time.perf_counter() - began:.0f} s in all (setup {setup:.0f} s, cold starts"
        f" {seconds['cold']:.0f} s, warm and restores {seconds['total'] - seconds['cold']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
