"""The wheels a lent GPU machine lacks: pinned here, installed there without a registry.

The GPU machine has torch (CUDA), lightning, torchmetrics, timm, opencv, scikit-learn
and scikit-image, but no package registry. ``make gpu-wheels`` lists what else the
project needs (its requirements and ``sweeps``, with their dependencies), pinned to the
versions this ``.venv`` runs, and downloads them for Python 3.12 into ``.gpu-wheels/``;
``benchmarks/gpu.sh`` then installs only those the machine does not have, so nothing
of its torch stack is shadowed.

    python -m benchmarks.gpu_wheels requirements > .gpu-wheels/requirements.txt   # here
    python -m benchmarks.gpu_wheels install .gpu-wheels TARGET_DIR               # there

``install`` uses the standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = "an_lightning"
EXTRA_ROOTS = ("sweeps",)  # installed --no-deps by the Makefile; its own deps are listed
# What the GPU machine already has (with their dependencies): never downloaded.
PRESENT = (
    "torch",
    "lightning",
    "torchmetrics",
    "scikit-learn",
    "scikit-image",
    "opencv-python-headless",
    "numpy",
    "pillow",
    "pyyaml",
)
# The GPU machine's interpreter, for the environment markers.
TARGET_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str]) -> set[str]:
    """Canonical names of ``roots`` and everything they need on the target interpreter."""
    from packaging.requirements import Requirement  # the dev venv has it; the target need not

    seen: set[str] = set()
    done: set[tuple[str, frozenset[str]]] = set()  # (name, extras) already expanded
    todo = [(r, "") for r in roots]
    while todo:
        spec, extra = todo.pop()
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate({**TARGET_ENV, "extra": extra}):
            continue
        key = canonical(req.name)
        if (key, frozenset(req.extras)) in done:
            continue
        done.add((key, frozenset(req.extras)))
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            print(f"warning: {req.name} is not installed here; not listed", file=sys.stderr)
            continue
        seen.add(key)
        todo += [(r, e) for r in requires for e in ["", *sorted(req.extras)]]
    return seen


def requirements() -> list[str]:
    """``name==version`` (the versions installed here) of what the GPU machine lacks."""
    roots = [*(metadata.requires(PROJECT) or []), *EXTRA_ROOTS]
    needed = closure(roots) - closure(list(PRESENT))
    return sorted(f"{metadata.metadata(n)['Name']}=={metadata.version(n)}" for n in needed)


def missing(lines: list[str]) -> list[str]:
    """The pinned requirements whose distribution this interpreter does not have."""
    out = []
    for line in lines:
        name = line.split("==")[0].strip()
        if not name or name.startswith("#"):
            continue
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(line.strip())
    return out


def install(wheels: Path, target: Path) -> list[str]:
    """Install the missing wheels into ``target`` (no index, no deps); unzip without pip."""
    todo = missing((wheels / "requirements.txt").read_text().splitlines())
    if not todo:
        return []
    target.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
    pip += ["--disable-pip-version-check", "--find-links", str(wheels), "--target", str(target)]
    has_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if has_pip.returncode == 0:
        subprocess.run([*pip, *todo], check=True)
        return todo
    for line in todo:  # a wheel is a zip of its site-packages files
        name, version = line.split("==")
        stem = f"{canonical(name).replace('-', '_')}-{version}-"
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(stem.lower())]
        if not found:
            raise SystemExit(f"no wheel for {line} in {wheels}: run `make gpu-wheels` first")
        with zipfile.ZipFile(found[0]) as wheel:
            wheel.extractall(target)
    return todo


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("requirements", help="print the pinned list (run in the dev .venv)")
    inst = sub.add_parser("install", help="install the missing wheels (on the GPU machine)")
    inst.add_argument("wheels", type=Path)
    inst.add_argument("target", type=Path)
    args = p.parse_args(argv)
    if args.command == "requirements":
        print("\n".join(requirements()))
        return 0
    if not (args.wheels / "requirements.txt").is_file():
        print(f"{args.wheels}/requirements.txt is missing: run `make gpu-wheels` first")
        return 2
    done = install(args.wheels, args.target)
    print(f"installed into {args.target}: {' '.join(done)}" if done else "nothing to install")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
