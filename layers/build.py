"""Build the Lambda layers without Docker: ``python -m layers.build [--out build/layer]``.

- The shared layer (``<out>``): the runtime dependencies pinned in ``uv.lock`` (minus what the
  Lambda runtime ships, what no function imports and what has a package layer), installed as
  wheels for the Lambda platform in ``infra.config``, next to the project's ``shared/``
  package, under ``<out>/python``; the CDK app publishes it for every function, mounted at
  ``/opt``.
- The embedder layer (``<out>/../embedder-layer``): the ``embedder`` dependency group (numpy,
  tokenizers, safetensors) for the same platform, and the static model's two files copied from
  the installed ``wordllama`` package into ``python/wordllama/`` (the wheel's layout, no code:
  ``shared.embeddings.static_model_dir`` finds them there). Files, not the wheel: wordllama
  0.3+ has no aarch64 wheel, and the weights are checked against the hash the evaluation was
  measured with. Only the functions that embed text get it, with ``-c embedder=static``.

- A package layer per ``infra.config.PACKAGE_LAYERS`` (``<out>/../pdf-layer``: pypdf;
  ``<out>/../migrations-layer``: alembic and mako, markupsafe): a package only some functions
  import, with what only it needs; the CDK app attaches it to those functions alone.

Prints each layer's sizes; exits non-zero when a layer is past Lambda's size quotas, or the
shared layer past its budget (15 MB zipped).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from infra.config import (
    ARCHITECTURE,
    DEFAULT_LAYER_DIR,
    EMBEDDER_LAYER_NAME,
    MB,
    NEVER_IMPORTED,
    PACKAGE_LAYERS,
    PIP_PLATFORMS,
    PYTHON_VERSION,
    REPO_ROOT,
    RUNTIME_PROVIDED,
    SHARED_LAYER_ZIPPED_BUDGET_BYTES,
    SIZES_FILE,
    UNZIPPED_LIMIT_BYTES,
    ZIPPED_LIMIT_BYTES,
    PackageLayer,
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


#: What tokenizers depends on but never imports to read a local file: the Hugging Face hub client
#: and its HTTP stack (a network client has no place beside a model that must not download).
EMBEDDER_UNUSED = ("huggingface-hub",)


def runtime_dependencies(
    lock_path: Path,
    *,
    provided: Iterable[str] = RUNTIME_PROVIDED,
    group: str | None = None,
    roots: Iterable[str] = (),
) -> set[str]:
    """Names of the packages the project needs at runtime (or dependency group ``group``, or
    the packages ``roots``, need) on the Lambda platform (dependency markers evaluated for it),
    without ``provided`` and whatever only they pull in (botocore's urllib3, for example)."""
    from packaging.markers import Marker

    with lock_path.open("rb") as file:
        packages = {normalize(p["name"]): p for p in tomllib.load(file)["package"]}
    skip = {normalize(n) for n in provided}
    needed: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(PROJECT, ())]
    if group is not None:
        group_roots = packages[PROJECT].get("dev-dependencies", {}).get(group, [])
        todo = [(normalize(dep["name"]), ()) for dep in group_roots]
        needed = {name for name, _ in todo}
    elif roots:
        todo = [(normalize(name), ()) for name in roots]
        needed = {name for name, _ in todo}
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
            marker = dep.get("marker")
            if marker and not Marker(marker).evaluate({**TARGET_MARKERS, "extra": ""}):
                continue  # async-timeout, for example: redis needs it below Python 3.11.3 only
            needed.add(dep_name)
            todo.append((dep_name, tuple(sorted(dep.get("extra", [])))))
    return needed


def shared_packages(lock_path: Path = REPO_ROOT / "uv.lock") -> set[str]:
    """What the shared layer installs: the runtime dependencies, without what no function
    imports and without the packages that have a layer of their own (and what only they pull
    in: alembic's mako)."""
    return runtime_dependencies(
        lock_path,
        provided=(*RUNTIME_PROVIDED, *NEVER_IMPORTED, *(p.distribution for p in PACKAGE_LAYERS)),
    )


def package_layer_packages(
    layer: PackageLayer, lock_path: Path = REPO_ROOT / "uv.lock"
) -> set[str]:
    """What ``layer`` installs: its package and whatever it needs that the shared layer lacks."""
    closure = runtime_dependencies(
        lock_path, provided=(*RUNTIME_PROVIDED, *NEVER_IMPORTED), roots=(layer.distribution,)
    )
    return closure - shared_packages(lock_path)


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


#: The environment markers of the Lambda platform, for the group's universal export.
TARGET_MARKERS = {
    "python_version": PYTHON_VERSION,
    "python_full_version": f"{PYTHON_VERSION}.0",
    "platform_machine": {"arm64": "aarch64", "x86_64": "x86_64"}[ARCHITECTURE],
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def group_requirements(group: str) -> str:
    """The locked requirements of dependency group ``group`` that apply on the Lambda platform
    (``uv export`` is universal: its lines carry markers, evaluated here for the target)."""
    from packaging.markers import Marker

    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not on PATH: see the README's setup")
    exported = run(
        [uv, "export", "--frozen", "--only-group", group, "--no-hashes", "--no-emit-project"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout
    lines = []
    for line in exported.splitlines():
        if not re.match(r"^[A-Za-z0-9]", line):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(dict(TARGET_MARKERS)):
            continue
        lines.append(requirement.strip())
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
                # pip checks Requires-Python against this interpreter, not --python-version;
                # the lock already picked the versions for the runtime's Python
                "--ignore-requires-python",
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


def build_embedder(out: Path) -> tuple[int, int]:
    """Build the embedder layer in ``out``; return its unzipped and zipped sizes in bytes."""
    import hashlib

    from shared.embeddings import (
        STATIC_TOKENIZER_FILE,
        STATIC_WEIGHTS_FILE,
        STATIC_WEIGHTS_SHA256,
        static_model_dir,
    )

    clean(out)
    site = out / "python"
    keep = runtime_dependencies(REPO_ROOT / "uv.lock", provided=EMBEDDER_UNUSED, group="embedder")
    wanted = [
        line
        for line in group_requirements("embedder").splitlines()
        if normalize(re.split(r"\s*==", line)[0]) in keep
    ]
    install("\n".join(wanted) + "\n", site)
    prune(site)
    source = static_model_dir()
    weights = source / STATIC_WEIGHTS_FILE
    if hashlib.sha256(weights.read_bytes()).hexdigest() != STATIC_WEIGHTS_SHA256:
        raise SystemExit(f"{weights} is not the model the evaluation measured")
    for name in (STATIC_WEIGHTS_FILE, STATIC_TOKENIZER_FILE):
        target = site / "wordllama" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
    return unzipped_size(out), zipped_size(out)


def build(out: Path) -> tuple[int, int]:
    """Build the layer in ``out``; return its unzipped and zipped sizes in bytes."""
    clean(out)
    site = out / "python"
    install(requirements(shared_packages()), site)
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


def build_package_layer(layer: PackageLayer, out: Path) -> tuple[int, int]:
    """Build ``layer`` (pypdf's, alembic's) in ``out``; return its unzipped and zipped sizes."""
    clean(out)
    site = out / "python"
    install(requirements(package_layer_packages(layer)), site)
    prune(site)
    compile_bytecode(site)
    return unzipped_size(out), zipped_size(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_LAYER_DIR, help="layer directory (build/layer)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    errors = []
    layers: list[tuple[str, Path, Callable[[Path], tuple[int, int]]]] = [
        ("shared layer", out, build),
        ("embedder layer", out.parent / EMBEDDER_LAYER_NAME, build_embedder),
    ]
    for package_layer in PACKAGE_LAYERS:
        layers.append(
            (
                package_layer.name.replace("-", " "),
                out.parent / package_layer.name,
                functools.partial(build_package_layer, package_layer),
            )
        )
    sizes: dict[str, dict[str, Any]] = {}
    for label, folder, builder in layers:
        started = time.perf_counter()
        unzipped, zipped = builder(folder)
        seconds = time.perf_counter() - started
        sizes[label] = {"folder": folder.name, "unzipped": unzipped, "zipped": zipped}
        sys.stdout.write(
            f"{label} {folder}: {unzipped / MB:.1f} MB unzipped (limit"
            f" {UNZIPPED_LIMIT_BYTES // MB} MB with the function code and the other layers),"
            f" {zipped / MB:.1f} MB zipped (limit {ZIPPED_LIMIT_BYTES // MB} MB);"
            f" built in {seconds:.0f} s\n"
        )
        if unzipped > UNZIPPED_LIMIT_BYTES:
            errors.append(f"the {label}'s unzipped size is past Lambda's 250 MB quota")
        if zipped > ZIPPED_LIMIT_BYTES:
            errors.append(f"the {label}'s zipped size is past Lambda's 50 MB direct-upload quota")
        if folder == out and zipped > SHARED_LAYER_ZIPPED_BUDGET_BYTES:
            errors.append(
                f"the shared layer is {zipped / MB:.1f} MB zipped, past its budget of"
                f" {SHARED_LAYER_ZIPPED_BUDGET_BYTES // MB} MB (issue 13): move what only some"
                " functions import to a layer of its own (infra.config.PACKAGE_LAYERS)"
            )
    # What the benchmark's budget check and its page read (tests/bench/budget.py).
    (out.parent / SIZES_FILE).write_text(
        json.dumps(
            {
                "built": time.strftime("%Y-%m-%d %H:%M"),
                "bytecode": bool(shutil.which(f"python{PYTHON_VERSION}")),
                "layers": sizes,
            },
            indent=1,
        )
    )
    for error in errors:
        sys.stderr.write(f"error: {error}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
