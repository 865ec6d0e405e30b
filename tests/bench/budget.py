"""The budgets of issue 13, checked against one run's results: ``python -m tests.bench.budget``.

Ratios of one run only (figures move ±15 % between runs on a shared machine). Cold starts are
compared on CPU time (a child's own rusage, which other load on the machine disturbs least);
the restore estimate against the cold start on wall time (what a caller waits); the transport
overhead on the p50 of calls with the I/O stubbed. Exit status 1 when a budget is missed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.registry import REPO_ROOT
from infra.config import MB, SHARED_LAYER_ZIPPED_BUDGET_BYTES, SIZES_FILE

RESULTS = REPO_ROOT / "build" / "bench" / "results.json"
LAYER_DIR = REPO_ROOT / "build" / "layer"

COLD_VS_POWERTOOLS = 1.1
COLD_VS_LAMBDALITH = 0.7
RESTORE_VS_COLD = 0.25
TRANSPORT_VS_POWERTOOLS = 2.0
LAYER_ZIPPED_MB = SHARED_LAYER_ZIPPED_BUDGET_BYTES / MB


@dataclass(frozen=True)
class Check:
    budget: str
    subject: str
    value: float | None
    limit: float

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value <= self.limit

    @property
    def miss(self) -> str:
        if self.value is None:
            return "not measured"
        return "" if self.passed else f"+{(self.value / self.limit - 1) * 100:.0f} % over"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def check(results: dict[str, Any], layer_dir: Path = LAYER_DIR) -> list[Check]:
    cold, warm, kinds = results["cold"], results["warm"], results["kinds"]
    lambdalith = cold.get("lambdalith", {}).get("lambdalith", {}).get("cpu_ms")
    checks = []
    for name, kind in sorted(kinds.items()):
        ours = cold.get(name, {}).get("stratus", {})
        if kind == "http":
            pt = cold.get(name, {}).get("powertools", {}).get("cpu_ms")
            checks.append(
                Check(
                    "cold ≤ 1.1x Powertools (CPU)",
                    name,
                    _ratio(ours.get("cpu_ms"), pt),
                    COLD_VS_POWERTOOLS,
                )
            )
            checks.append(
                Check(
                    "cold ≤ 0.7x lambdalith (CPU)",
                    name,
                    _ratio(
                        ours.get("cpu_ms"),
                        cold.get(name, {}).get("lambdalith", {}).get("cpu_ms", lambdalith),
                    ),
                    COLD_VS_LAMBDALITH,
                )
            )
            stub = warm.get(name, {})
            checks.append(
                Check(
                    "transport ≤ 2x Powertools (stubbed p50)",
                    name,
                    _ratio(
                        stub.get("stratus", {}).get("stubbed", {}).get("p50_us"),
                        stub.get("powertools", {}).get("stubbed", {}).get("p50_us"),
                    ),
                    TRANSPORT_VS_POWERTOOLS,
                )
            )
        restore = warm.get(name, {}).get("stratus", {}).get("restore_wall_ms")
        checks.append(
            Check(
                "restore ≤ 0.25x cold (wall)",
                name,
                _ratio(restore, ours.get("wall_ms")),
                RESTORE_VS_COLD,
            )
        )
    zipped = layer_zipped_mb(layer_dir)
    subject = "build/layer" if zipped is not None else "build/layer (make layer)"
    checks.append(Check("shared layer ≤ 15 MB zipped", subject, zipped, LAYER_ZIPPED_MB))
    return checks


def layer_zipped_mb(layer_dir: Path) -> float | None:
    """The shared layer's zipped size as ``make layer`` measured it (None: not built)."""
    sizes = layer_sizes(layer_dir)
    return None if sizes is None else sizes["layers"]["shared layer"]["zipped"] / MB


def layer_sizes(layer_dir: Path = LAYER_DIR) -> dict[str, Any] | None:
    """What ``make layer`` wrote beside the layers it built: each one's sizes in bytes."""
    path = layer_dir.parent / SIZES_FILE
    if not (layer_dir / "python").is_dir() or not path.exists():
        return None
    sizes: dict[str, Any] = json.loads(path.read_text())
    return sizes


def render(checks: list[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    lines = [f"Budget check: {len(checks) - len(failed)} of {len(checks)} within budget."]
    budgets: dict[str, list[Check]] = {}
    for c in checks:
        budgets.setdefault(c.budget, []).append(c)
    lines += ["", "| budget | within | worst | missed by |", "|---|---:|---|---|"]
    for budget, group in budgets.items():
        measured = [c for c in group if c.value is not None]
        worst = max(measured, key=lambda c: c.value / c.limit, default=None)  # type: ignore[operator]
        worst_text = f"{worst.subject}: {worst.value:.2f}" if worst else "n/a"
        missed = ", ".join(
            f"{c.subject} {c.value:.2f}" for c in group if c.value is not None and not c.passed
        )
        unmeasured = [c.subject for c in group if c.value is None]
        if unmeasured:
            missed = (missed + "; " if missed else "") + "not measured: " + ", ".join(unmeasured)
        within = f"{sum(c.passed for c in group)}/{len(group)}"
        lines.append(f"| {budget} | {within} | {worst_text} | {missed or '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    path = Path((argv or sys.argv[1:] or [str(RESULTS)])[0])
    checks = check(json.loads(path.read_text()))
    print(render(checks))
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
