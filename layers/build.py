"""Build the dependency layer without Docker: ``python -m layers.build [--out build/layer]``.

The runtime dependencies pinned in ``uv.lock`` (minus what the Lambda runtime ships) are installed
as wheels for the Lambda platform in ``infra.config``, next to the project's ``shared/`` package,
under ``<out>/python``: the CDK app publishes ``<out>`` as the layer, mounted at ``/opt``.
Exits non-zero when the layer is past Lambda's size quotas.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.config import (
    DEFAULT_LAYER_DIR,
    MB,
    PIP_PLATFORMS,
    PYTHON_VERSION,
    REPO_ROOT,
    RUNTIME_PROVIDED,
    UNZIPPED_LIMIT_BYTES,
    ZIPPED_LIMIT_BYTES,
)

PROJECT = "stratus"
# Console scripts: their shebang names the build machine's interpreter; nothing in Lambda runs them.
JUNK_DIRS = ("bin",)


def normalize(name: str) -> str:
    """PEP 503 name normalization, as uv.lock and ``uv export`` spell names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a tool of the build (uv, pip, compileall): argv is built here, never from input."""
    return subprocess.run(argv, text=True, **kwargs)  # noqa: S603 - fixed argv, no shell


def runtime_dependencies(
    lock_path: Path, *, provided: Iterable[str] = RUNTIME_PROVIDED
) -> set[str]:
    """Names of the packages the project needs at runtime, without ``provided`` and whatever
    only they pull in (botocore's urllib3, for example)."""
    with lock_path.open("rb") as file:
        packages = {normalize(p["name"]): p for p in tomllib.load(file)["package"]}
    skip = {normalize(n) for n in provided}
    needed: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(PROJECT, ())]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            dep_name = normalize(dep["name"])
            if dep_name in skip:
                continue
            needed.add(dep_name)
            todo.append((dep_name, tuple(sorted(dep.get("extra", [])))))
    return needed


def requirements(keep: set[str]) -> str:
    """The locked runtime requirements (``uv export``), restricted to the packages in ``keep``."""
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not on PATH: see the README's setup")
    exported = run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout
    lines = []
    for line in exported.splitlines():
        found = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==", line)
        if found and normalize(found.group(1)) in keep:
            lines.append(line)
    missing = keep - {normalize(re.split(r"\s*==", line)[0]) for line in lines}
    if missing:
        raise SystemExit(f"uv export did not list {sorted(missing)}: is uv.lock up to date?")
    return "\n".join(lines) + "\n"


def pip_command() -> list[str]:
    """pip of this interpreter if it has one (a uv venv has none), else the first ``python3`` on
    PATH that has pip (``make`` puts the venv's pip-less python3 first)."""
    candidates = [sys.executable]
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        python3 = Path(directory) / "python3"
        if os.access(python3, os.X_OK):
            candidates.append(str(python3))
    for python in candidates:
        probe = run([python, "-m", "pip", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [python, "-m", "pip"]
    raise SystemExit("no pip found: install pip in the venv or put a python3 with pip on PATH")


def install(requirements_text: str, target: Path) -> None:
    """Install the wheels for the Lambda platform, exactly as pinned (``--no-deps``: the
    requirements are the lock's whole closure already)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write(requirements_text)
    try:
        run(
            [
                *pip_command(),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",  # bytecode of the build interpreter is useless to python3.14
                "--no-deps",
                "--target",
                str(target),
                *(arg for platform in PIP_PLATFORMS for arg in ("--platform", platform)),
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "--only-binary=:all:",
                "--requirement",
                file.name,
            ],
            check=True,
            env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},
        )
    finally:
        Path(file.name).unlink()


def prune(site: Path) -> None:
    """Remove what Lambda never uses: console scripts and bytecode caches."""
    for junk in JUNK_DIRS:
        shutil.rmtree(site / junk, ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    leaked = sorted(
        p.name for p in site.iterdir() if normalize(p.name.split("-")[0]) in RUNTIME_PROVIDED
    )
    if leaked:
        raise SystemExit(f"runtime-provided packages ended up in the layer: {leaked}")


def compile_bytecode(site: Path) -> bool:
    """Precompile with the runtime's own Python when this machine has one: /opt is read-only in
    Lambda, so a layer without bytecode is compiled again on every cold start. Hash-checked
    pycs, since the asset zip does not keep the sources' mtimes."""
    python = shutil.which(f"python{PYTHON_VERSION}")
    # A pyenv shim exists for versions it cannot run: probe before trusting the name.
    if python is None or run([python, "-V"], capture_output=True).returncode != 0:
        return False
    compileall = [python, "-m", "compileall", "-q", "-j", "0"]
    run([*compileall, "--invalidation-mode", "unchecked-hash", str(site)], check=True)
    return True


def unzipped_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def zipped_size(root: Path) -> int:
    """Size of the layer zipped as the CDK asset will be (deflate), measured in a temp file."""
    with tempfile.TemporaryFile() as raw:
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
        return raw.tell()


def clean(out: Path) -> None:
    """Empty ``out``, refusing anything that does not look like a previous layer build."""
    if out.exists():
        if out.resolve() in (REPO_ROOT, Path.home(), Path("/")) or not out.is_dir():
            raise SystemExit(f"refusing to overwrite {out}")
        unexpected = [p.name for p in out.iterdir() if p.name != "python"]
        if unexpected:
            raise SystemExit(f"{out} holds more than a layer ({unexpected[:3]}): remove it first")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def build(out: Path) -> tuple[int, int]:
    """Build the layer in ``out``; return its unzipped and zipped sizes in bytes."""
    clean(out)
    site = out / "python"
    install(requirements(runtime_dependencies(REPO_ROOT / "uv.lock")), site)
    prune(site)
    shutil.copytree(
        REPO_ROOT / "shared", site / "shared", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    if not compile_bytecode(site):
        sys.stderr.write(
            f"note: no python{PYTHON_VERSION} here, so the layer ships sources only"
            " (Lambda compiles them on each cold start)\n"
        )
    return unzipped_size(out), zipped_size(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_LAYER_DIR, help="layer directory (build/layer)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    started = time.perf_counter()
    unzipped, zipped = build(out)
    seconds = time.perf_counter() - started
    sys.stdout.write(
        f"layer {out}: {unzipped / MB:.1f} MB unzipped (limit {UNZIPPED_LIMIT_BYTES // MB} MB with"
        f" the function code), {zipped / MB:.1f} MB zipped (limit {ZIPPED_LIMIT_BYTES // MB} MB);"
        f" built in {seconds:.0f} s\n"
    )
    errors = []
    if unzipped > UNZIPPED_LIMIT_BYTES:
        errors.append("unzipped size is past Lambda's 250 MB quota")
    if zipped > ZIPPED_LIMIT_BYTES:
        errors.append("zipped size is past Lambda's 50 MB direct-upload quota")
    for error in errors:
        sys.stderr.write(f"error: {error}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
