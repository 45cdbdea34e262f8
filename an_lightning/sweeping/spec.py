"""A sweep file: read, checked against W&B's own sweep schema, and its grid expanded.

The ``sweeps`` package is W&B's sweep engine (what the W&B server runs): using its
schema and its grid iterator means a file that passes here is accepted by
``wandb sweep``, and ``--index i`` is the i-th run W&B's grid would hand out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_GRID = 100_000
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SweepError(ValueError):
    """A problem with a sweep file or request, worded for the command line."""


@dataclass(frozen=True)
class Sweep:
    path: Path
    name: str  # run ids are <name>-<index>
    config: dict[str, Any]

    @property
    def command(self) -> list[str]:
        return [str(c) for c in self.config.get("command") or []]


def load_sweep(path: str | Path) -> Sweep:
    """The sweep in ``path``, or ``SweepError`` naming what is wrong and how to fix it."""
    path = Path(path)
    if path.is_dir():
        raise SweepError(f"sweep file {path} is a folder: pass a sweep YAML file (sweeps/*.yaml)")
    if not path.is_file():
        raise SweepError(f"sweep file {path} does not exist")
    try:
        config = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise SweepError(f"sweep file {path} is not UTF-8 text: pass a sweep YAML file") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise SweepError(
            f"{path} is not valid YAML{line}: {getattr(err, 'problem', err)}"
        ) from None
    if not isinstance(config, dict):
        raise SweepError(f"{path} must hold a mapping (method, parameters, ...), got {config!r}")
    violations = schema_violations(config)
    if violations:
        raise SweepError(
            f"{path} is not a valid W&B sweep: {'; '.join(violations)} "
            "(see https://docs.wandb.ai/guides/sweeps/define-sweep-configuration)"
        )
    name = str(config.get("name") or path.stem)
    if not NAME.match(name):
        raise SweepError(f"{path}: sweep name {name!r} must be letters, digits, '_', '.', '-'")
    return Sweep(path, name, config)


def schema_violations(config: dict) -> list[str]:
    """W&B's schema violations, each on one line."""
    import sweeps

    return [" ".join(v.split()) for v in sweeps.schema_violations_from_proposed_config(config)]


def grid(sweep: Sweep) -> list[dict[str, Any]]:
    """Every run of a grid sweep in W&B's order, as ``{parameter: value}``.

    Values go through JSON as they do on their way from the W&B server to an agent
    (so a YAML ``{16: ...}`` arrives as ``{'16': ...}`` in both places).
    """
    import sweeps

    if sweep.config.get("method") != "grid":
        raise SweepError(
            f"{sweep.path}: method {sweep.config.get('method')!r} draws runs at random or from "
            "results; only a grid can be listed or run without a W&B server (use wandb agent)"
        )
    runs = [r for r in sweeps.next_runs(sweep.config, [], n=MAX_GRID + 1) if r is not None]
    if len(runs) > MAX_GRID:
        raise SweepError(f"{sweep.path}: the grid has more than {MAX_GRID} runs")
    return [json.loads(json.dumps(flat_values(r.config))) for r in runs]


def flat_values(run_config: dict[str, Any]) -> dict[str, Any]:
    """``{name: {"value": v}}`` (W&B's run config) -> ``{name: v}``."""
    return {name: entry["value"] for name, entry in run_config.items()}
