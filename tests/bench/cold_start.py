"""Cold start and warm latency per function: ``make bench`` (a benchmark, not a timed test).

Cold start: a fresh Python process that imports the function's handler module and serves its
sample event from ``events/`` (the part of a Lambda cold start our code controls), timed from
outside the process, median of ``--runs`` runs; ``python -c pass`` is measured in the same run
as the floor. Warm: the same event served again in-process, p50 and p95 of ``--warm`` calls.
Tracing is off (no X-Ray daemon here); ``--traced`` also measures with the tracer on, as in AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from functions.registry import REPO_ROOT, discover

PROBE = """
import json, sys, time
from functions.registry import discover
from local.invoke import invoke
entry = discover()[sys.argv[1]]
event = json.load(open(sys.argv[2]))
first = invoke(entry, event, quiet=True)
# the authorizer's sample carries a placeholder token: refused, as it should be
assert first.error is None or str(first.error) == "Unauthorized", first.error
warm = []
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    invoke(entry, event, quiet=True)
    warm.append((time.perf_counter() - started) * 1e6)
print(json.dumps({"warm_us": warm}))
"""

COLD = """
import json, sys
from local.lambda_context import LambdaContext
import importlib.util
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
event = json.load(open(sys.argv[2]))
try:
    module.handler(event, LambdaContext(function_name="bench"))
except Exception as exc:  # the authorizer refuses the sample's placeholder token
    assert str(exc) == "Unauthorized", exc
"""


def _env(traced: bool) -> dict[str, str]:
    env = dict(os.environ)  # with the runner's: moto, the database, Redis, resource addresses
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    if traced:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
        env["POWERTOOLS_TRACE_DISABLED"] = "false"
        env["AWS_XRAY_CONTEXT_MISSING"] = "IGNORE_ERROR"
    else:
        env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def median_ms(argv: list[str], env: dict[str, str], runs: int) -> float:
    _time(argv, env)  # warm the file-system cache; not counted
    return statistics.median(_time(argv, env) for _ in range(runs))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--traced", action="store_true")
    parser.add_argument("functions", nargs="*")
    args = parser.parse_args()
    python = sys.executable
    # moto, the resources, a migrated database and Redis, as the local runner provides them
    # (real Postgres and Redis when DATABASE_URL / REDIS_URL are set); no HTTP server.
    import tempfile

    from local.runner import LocalRunner, RunnerConfig, runtime_environment

    for key, value in runtime_environment().items():
        os.environ.setdefault(key, value)
    os.environ["RATE_LIMIT_PER_MINUTE"] = "10000000"  # measure the work, not 429 short-cuts
    config = RunnerConfig.from_env()
    config.state_dir = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    runner = LocalRunner(discover(), config, serve=False)
    runner.start()
    try:
        return _measure(args, python)
    finally:
        runner.stop()


def _measure(args: argparse.Namespace, python: str) -> int:
    env = _env(traced=False)
    floor = median_ms([python, "-c", "pass"], env, args.runs)
    print(f"python -c pass: {floor:.0f} ms (median of {args.runs})")
    header = "| function | cold start, ms | cold, traced, ms | warm p50, µs | warm p95, µs |"
    rows = [header, "|---|---:|---:|---:|---:|"]
    for entry in discover():
        if args.functions and entry.name not in args.functions:
            continue
        event = REPO_ROOT / "events" / f"{entry.name}.json"
        handler = Path(entry.folder) / "handler.py"
        cold = median_ms([python, "-c", COLD, str(handler), str(event)], env, args.runs)
        cold_argv = [python, "-c", COLD, str(handler), str(event)]
        traced = f"{median_ms(cold_argv, _env(True), args.runs):.0f}" if args.traced else "n/a"
        out = subprocess.run(
            [python, "-c", PROBE, entry.name, str(event), str(args.warm)],
            env=env,
            check=True,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout
        warm = json.loads(out.strip().splitlines()[-1])["warm_us"]
        rows.append(
            f"| {entry.name} | {cold:.0f} | {traced} | {percentile(warm, 50):.0f} | "
            f"{percentile(warm, 95):.0f} |"
        )
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
