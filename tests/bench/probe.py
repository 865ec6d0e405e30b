"""What the benchmark runs in its child processes: ``python -m tests.bench.probe <mode> ...``.

``cold``: a fresh process that loads one variant's handler and serves one event, the part of a
cold start our code controls. It measures itself at its first response: wall from the moment
the parent spawned it (``BENCH_SPAWNED_AT``, the system-wide monotonic clock), CPU its own
rusage; the interpreter's teardown, which no caller waits for, is left out. Given a warm plan
(a baseline's first fresh process), the same process goes on with the warm calls of each route
in the plan. ``warm`` (Stratus functions): loads the handler, primes it as before a SnapStart
snapshot and forks: the child runs the after-restore hooks and serves its first event (the
restore estimate), then the warm calls. Warm calls: first with real I/O, then the same route
with its I/O stubbed (the transport's own overhead). Results go to stdout as one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from local.lambda_context import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


def load(variant: str, name: str, kind: str, traced: str, handler_file: str) -> tuple[Handler, Any]:
    """The handler of ``variant`` (stratus, powertools, lambdalith), and the Stratus declaration
    (None for the baselines)."""
    modules = tuple(m for m in traced.split(",") if m)
    if variant == "stratus":
        spec = importlib.util.spec_from_file_location("handler", handler_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.handler, module.function
    if variant == "powertools":
        from tests.bench.baselines import powertools

        return powertools.build(name, kind, modules), None
    from tests.bench.baselines import lambdalith

    return lambdalith.handler, None


def check(name: str, result: Any, error: BaseException | None = None) -> None:
    """Every measured call must take the success path."""
    if error is not None:
        raise SystemExit(f"{name}: {type(error).__name__}: {error}")
    if isinstance(result, dict):
        status = int(result.get("statusCode", 200))
        failures = result.get("batchItemFailures")
        if status >= 400 or failures:
            raise SystemExit(f"{name}: not a success: {json.dumps(result)[:300]}")


def call(handler: Handler, name: str, event: dict[str, Any]) -> Any:
    result = handler(event, LambdaContext(function_name=name))
    check(name, result)
    return result


def _cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def cold(argv: list[str]) -> int:
    """One fresh process's cold start; then, given a plan file (``[{"name", "events",
    "calls", "seconds"}]``), the warm calls of every route in it, in this process."""
    variant, name, kind, traced, handler_file, event_file, *plan_file = argv
    spawned = float(os.environ["BENCH_SPAWNED_AT"])
    with open(event_file) as fh:
        event = json.load(fh)
    asyncio.set_event_loop(asyncio.new_event_loop())
    handler, _ = load(variant, name, kind, traced, handler_file)
    call(handler, name, event)
    out: dict[str, Any] = {
        "cold_wall_ms": (time.monotonic() - spawned) * 1000,
        "cold_cpu_ms": _cpu_ms(),
    }
    if plan_file:
        with open(plan_file[0]) as fh:
            plan = json.load(fh)
        out["warm"] = {}
        for route in plan:
            with open(route["events"]) as fh:
                events = [json.loads(line) for line in fh if line.strip()]
            out["warm"][route["name"]] = _run_warm(
                handler, route["name"], events, route["calls"], route["seconds"]
            )
    print(json.dumps(out))
    return 0


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]  # noqa: E731
    return {"p50_us": pick(0.5), "p99_us": pick(0.99), "calls": len(ordered)}


def _timed(
    handler: Handler, name: str, events: list[dict[str, Any]], seconds: float | None = None
) -> dict[str, float]:
    """Call ``handler`` with each event; stop early once ``seconds`` are spent (a route whose
    real work is slow, such as a password hash: its calls figure says how many were made)."""
    samples = []
    deadline = None if seconds is None else time.perf_counter() + seconds
    for event in events:
        started = time.perf_counter()
        call(handler, name, event)
        samples.append((time.perf_counter() - started) * 1e6)
        if deadline is not None and started > deadline:
            break
    return _percentiles(samples)


@contextlib.contextmanager
def stubbed_io(handler: Handler, name: str, event: dict[str, Any]) -> Iterator[None]:
    """The route's I/O replaced by what one real call returned: each domain service function
    replays its recorded result, the units of work (read scopes too) open no session, the rate
    limiter answers without Redis. What remains is the transport and the serialization."""
    from shared.platform import db, ratelimit

    recorded: dict[tuple[str, str], Any] = {}
    patched: list[tuple[Any, str, Any]] = []

    def patch(target: Any, attr: str, value: Any) -> None:
        patched.append((target, attr, getattr(target, attr)))
        setattr(target, attr, value)

    services = [
        m
        for key, m in list(sys.modules.items())
        if key.startswith("shared.") and key.endswith(".service") and m is not None
    ]

    def recorder(module: Any, fn_name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = (module.__name__, fn_name)
            if key not in recorded:
                recorded[key] = fn(*args, **kwargs)
            return recorded[key]

        return wrapper

    for module in services:
        for fn_name, fn in list(vars(module).items()):
            if callable(fn) and getattr(fn, "__module__", None) == module.__name__:
                patch(module, fn_name, recorder(module, fn_name, fn))
    try:
        call(handler, name, event)  # records every service result once, with real I/O
        decision = ratelimit.Decision(
            allowed=True, limit=10**6, remaining=10**6 - 1, reset_seconds=60, retry_after=0
        )
        patch(ratelimit, "hit", lambda *a, **k: decision)
        patch(db, "session_scope", lambda: contextlib.nullcontext(None))
        patch(db, "read_scope", lambda: contextlib.nullcontext(None))  # the lists and search
        yield
    finally:
        for target, attr, original in reversed(patched):
            setattr(target, attr, original)


def warm(argv: list[str]) -> int:
    """A Stratus function primed as before a SnapStart snapshot, then forked: the copy runs
    the after-restore hooks and serves its first event (the restore estimate), then the warm
    calls."""
    variant, name, kind, traced, handler_file, events_file, calls, seconds = argv
    with open(events_file) as fh:
        events = [json.loads(line) for line in fh if line.strip()]
    asyncio.set_event_loop(asyncio.new_event_loop())
    handler, function = load(variant, name, kind, traced, handler_file)
    from shared.platform import snapstart

    function.prime()
    read, write = os.pipe()
    if child := os.fork():
        os.close(write)
        os.waitpid(child, 0)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        if not data:
            raise SystemExit(f"{name}: the restored copy failed")
        result = json.loads(data)
        if "error" in result:
            raise SystemExit(f"{name}: {result['error']}")
        print(data.decode())
        return 0
    os.close(read)
    out: dict[str, Any] = {}
    try:
        before = _cpu_ms()  # the child's own: rusage starts again at the fork
        started = time.perf_counter()
        snapstart.renew()
        call(handler, name, events[0])
        out["restore_wall_ms"] = (time.perf_counter() - started) * 1000
        out["restore_cpu_ms"] = _cpu_ms() - before
        out.update(_run_warm(handler, name, events[1:], int(calls), float(seconds)))
    except BaseException as exc:
        out = {"error": f"{type(exc).__name__}: {exc}"}
    os.write(write, json.dumps(out).encode())
    os._exit(0)


def _run_warm(
    handler: Handler, name: str, events: list[dict[str, Any]], calls: int, seconds: float
) -> dict:
    """Warm calls with real I/O over ``events[:-1]`` (cycled up to ``calls`` when they can be
    replayed: the file then holds one event; at most ``seconds`` of them), then ``calls`` with
    the I/O stubbed (all of them: they cost the transport only), recorded
    from ``events[-1]``."""
    out: dict[str, Any] = {}
    real, stub = events[:-1], events[-1]
    if len(real) == 1:
        real = real * calls
    out["warm"] = _timed(handler, name, real, seconds)
    if stub.get("httpMethod"):  # the transport's own overhead: HTTP routes only
        with stubbed_io(handler, name, stub):
            out["stubbed"] = _timed(handler, name, [stub] * calls)
    return out


def guard_network() -> None:
    """Refuse, and so reveal, any connection off the machine (the X-Ray SDK included)."""
    import ipaddress
    import socket

    def _check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is None:
            return  # a Unix socket
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"benchmark guard: refused a connection to {host}")

    original_connect, original_sendto = socket.socket.connect, socket.socket.sendto

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        original_connect(self, address)

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        _check(args[-1])
        return original_sendto(self, data, *args)  # type: ignore[arg-type]

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]


def main() -> int:
    guard_network()
    mode, *argv = sys.argv[1:]
    return {"cold": cold, "warm": warm}[mode](argv)


if __name__ == "__main__":
    sys.exit(main())
