"""docs/benchmarks.md (its cold-start part) and docs/benchmarks.png from one run's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.config import MB
from tests.bench import budget
from tests.bench.run import CHART, DOC, FASTAPI_FLOOR, FLOORS, POWERTOOLS_FLOOR

MARKER = "## Vectors at 100,000 chunks"  # what follows is written by the other benchmarks


def _f(value: Any, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def chart(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cold, warm = results["cold"], results["warm"]
    names = [n for n, k in sorted(results["kinds"].items()) if n in cold]
    ours = [cold[n]["stratus"]["cpu_ms"] for n in names]
    pt = [cold[n].get("powertools", {}).get("cpu_ms", 0) for n in names]
    restore = [warm.get(n, {}).get("stratus", {}).get("restore_wall_ms", 0) for n in names]
    y = range(len(names))
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(names) + 1.6))
    ax.barh([i + 0.27 for i in y], pt, height=0.27, label="Powertools handler, cold (CPU)")
    ax.barh(list(y), ours, height=0.27, label="Stratus function, cold (CPU)")
    ax.barh([i - 0.27 for i in y], restore, height=0.27, label="Stratus, restore estimate (wall)")
    lambdalith = cold.get("lambdalith", {}).get("lambdalith", {}).get("cpu_ms")
    if lambdalith:
        ax.axvline(lambdalith, color="grey", linestyle="--", label="lambdalith, cold (CPU)")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_title(f"Cold start and restore per function ({results['date']})", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(CHART, dpi=110)
    plt.close(fig)


def table(results: dict[str, Any]) -> list[str]:
    cold, warm = results["cold"], results["warm"]
    rows = [
        "| function | kind | cold CPU / wall, ms | Powertools cold CPU / wall | lambdalith cold CPU"
        " / wall | restore, ms (CPU / wall) | warm p50 / p99, µs (calls) | baselines warm p50"
        " (Powertools / lambdalith) | stubbed p50, µs: Stratus / Powertools / lambdalith |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, kind in sorted(results["kinds"].items()):
        c, w = cold.get(name, {}), warm.get(name, {})
        ours, pt, ll = c.get("stratus", {}), c.get("powertools", {}), c.get("lambdalith", {})
        ws, wp, wl = w.get("stratus", {}), w.get("powertools", {}), w.get("lambdalith", {})
        real = ws.get("warm", {})
        rows.append(
            f"| {name} | {kind} | {_f(ours.get('cpu_ms'))} / {_f(ours.get('wall_ms'))} "
            f"| {_f(pt.get('cpu_ms'))} / {_f(pt.get('wall_ms'))} "
            f"| {_f(ll.get('cpu_ms')) if kind == 'http' else '-'} / "
            f"{_f(ll.get('wall_ms')) if kind == 'http' else '-'} "
            f"| {_f(ws.get('restore_cpu_ms'), 1)} / {_f(ws.get('restore_wall_ms'), 1)} "
            f"| {_f(real.get('p50_us'))} / {_f(real.get('p99_us'))} ({_f(real.get('calls'))}) "
            f"| {_f(wp.get('warm', {}).get('p50_us'))} / {_f(wl.get('warm', {}).get('p50_us'))} "
            f"| {_f(ws.get('stubbed', {}).get('p50_us'))} / "
            f"{_f(wp.get('stubbed', {}).get('p50_us'))} / "
            f"{_f(wl.get('stubbed', {}).get('p50_us'))} |"
        )
    return rows


def write(results: dict[str, Any]) -> None:
    chart(results)
    cold = results["cold"]
    floors = cold.get("floor", {})
    load = results["load_average"]
    a = results["args"]
    bytecode = [
        f"| {key.removesuffix(' bytecode')} | {_f(v.get('with .pyc', {}).get('cpu_ms'))} / "
        f"{_f(v.get('with .pyc', {}).get('wall_ms'))} | "
        f"{_f(v.get('without .pyc', {}).get('cpu_ms'))} / "
        f"{_f(v.get('without .pyc', {}).get('wall_ms'))} |"
        for key, v in sorted(cold.items())
        if key.endswith(" bytecode")
    ]
    verdict = budget.render(budget.check(results))
    text = TEMPLATE.format(
        date=results["date"],
        machine=results["machine"],
        load_min=load["min"],
        load_med=load["median"],
        load_max=load["max"],
        cold_seconds=results["seconds"]["cold"],
        runs=a["runs"],
        lambdalith_runs=min(a["runs"], a.get("lambdalith_runs", a["runs"])),
        warm=a["warm"],
        baseline_warm=a["baseline_warm"],
        consuming=a["consuming_calls"],
        bytecode_runs=min(a["runs"], a.get("bytecode_runs", a["runs"])),
        warm_seconds=a.get("warm_seconds", 0),
        baseline_warm_seconds=a.get("baseline_warm_seconds", a.get("warm_seconds", 0)),
        parallel=a["parallel"],
        floors=floors_table(floors),
        transport_gap=_f(transport_gap(floors)),
        table="\n".join(table(results)),
        unmeasured=(
            "Not measured in this run (no success-path scenario and baselines yet): "
            + ", ".join(f"`{n}`" for n in results.get("unmeasured", []))
            + "."
            if results.get("unmeasured")
            else "Every function was measured."
        ),
        bytecode="\n".join(bytecode) or "| (not measured in this run) | | |",
        verdict=verdict,
        layers=layers_table(),
        costs=costs_table(results),
        run_seconds=results["seconds"].get("run", results["seconds"]["total"]),
        setup_seconds=results["seconds"].get("setup", 0.0),
        warm_phase_seconds=results["seconds"]["total"] - results["seconds"]["cold"],
    )
    rest = ""
    if DOC.exists():
        old = DOC.read_text()
        if MARKER not in old:  # the other benchmarks' sections would be lost
            raise SystemExit(f"{DOC} has no {MARKER!r} section: not overwriting it")
        rest = old[old.index(MARKER) :]
    DOC.write_text(text + "\n" + rest)


def transport_gap(floors: dict[str, Any]) -> float | None:
    """What FastAPI and Mangum cost a cold start over Powertools' resolver (CPU, ms)."""
    fastapi = floors.get(FASTAPI_FLOOR, {}).get("cpu_ms")
    powertools = floors.get(POWERTOOLS_FLOOR, {}).get("cpu_ms")
    return None if fastapi is None or powertools is None else fastapi - powertools


def floors_table(floors: dict[str, Any]) -> str:
    """The floors, and what the FastAPI transport costs a cold start over Powertools'."""
    rows = ["| floor (`tests/bench/run.py`, FLOORS) | cold CPU / wall, ms |", "|---|---:|"]
    for label in FLOORS:
        f = floors.get(label, {})
        rows.append(f"| {label} | {_f(f.get('cpu_ms'))} / {_f(f.get('wall_ms'))} |")
    gap = transport_gap(floors)
    if gap is not None:
        rows += [
            "",
            f"FastAPI and Mangum cost a cold start **{gap:,.0f} ms CPU** more than"
            " Powertools' resolver before any route code runs (the two transports' floors),"
            " whatever the function does.",
        ]
    return "\n".join(rows)


def costs_table(results: dict[str, Any]) -> str:
    """Where the run's time went: each kind of task, summed (wall and the probes' own CPU)."""
    costs = results["seconds"].get("costs") or {}
    if not costs:
        return ""
    rows = ["| work | wall, s (summed over tasks) | CPU, s (the probes' own) |", "|---|---:|---:|"]
    for what, c in costs.items():
        if what.startswith(("warm http", "warm queue", "warm schedule", "warm authorizer")):
            continue  # the same warm probes by kind: the variants' rows cover them
        rows.append(f"| {what} | {c['wall']:,.0f} | {c['cpu']:,.0f} |")
    return "\n".join(rows)


def layers_table() -> str:
    """The layers' sizes, as ``make layer`` measured them."""
    sizes = budget.layer_sizes()
    if sizes is None:
        return "Not built in this checkout: run `make layer` before `make bench`."
    rows = [
        f"Built {sizes['built']} by `make layer` ("
        + ("with bytecode" if sizes["bytecode"] else "sources only: no python3.14 here")
        + ").",
        "",
        "| layer | attached to | unzipped, MB | zipped, MB |",
        "|---|---|---:|---:|",
    ]
    from functions.registry import discover
    from infra.config import PACKAGE_LAYERS
    from infra.imports import packages_reached

    registry = discover()
    attached = {
        "layer": "every function",
        "embedder-layer": "with `-c embedder=static`, the functions that embed text",
    }
    for package in PACKAGE_LAYERS:
        users = [e.name for e in registry if package.module in packages_reached(e.folder)]
        attached[package.name] = ", ".join(users) or "none"
    for label, layer in sizes["layers"].items():
        rows.append(
            f"| {label} (`build/{layer['folder']}`) | {attached.get(layer['folder'], '')} "
            f"| {layer['unzipped'] / MB:.1f} | {layer['zipped'] / MB:.1f} |"
        )
    return "\n".join(rows)


TEMPLATE = (Path(__file__).parent / "report_template.md").read_text()
