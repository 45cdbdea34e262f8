"""Each grid point's command line, built the way ``wandb agent`` builds it.

The agent fills the sweep's ``command`` list with macros: ``${env}`` (``/usr/bin/env``),
``${interpreter}`` (``python``), ``${program}``, ``${args}`` (``--name=value`` with
Python's ``str(value)``) and its variants. Running the same list locally, with the
local interpreter, makes a local run the exact run an agent would start.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .spec import Sweep, SweepError

FIT_MODULE = "an_lightning.fit"
DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]


def agent_flags(values: dict[str, Any]) -> dict[str, list[str]]:
    """The ``${args...}`` macros of W&B's agent (``create_sweep_command_args``)."""
    flags = [f"--{k}={v}" for k, v in values.items()]
    return {
        "args": flags,
        "args_no_hyphens": [f[2:] for f in flags],
        "args_no_boolean_flags": [
            f"--{k}" if v is True else f"--{k}={v}"
            for k, v in values.items()
            if not (isinstance(v, bool) and not v)
        ],
        "args_json": [json.dumps(values)],
        "args_no_equals": [x for k, v in values.items() for x in (f"--{k}", str(v))],
        "args_append_hydra": [f"+{f[2:]}" for f in flags],
        "args_override_hydra": [f"++{f[2:]}" for f in flags],
    }


def run_command(sweep: Sweep, values: dict[str, Any]) -> list[str]:
    """The sweep's command for one grid point, with this machine's Python."""
    macros = {
        "env": [],  # /usr/bin/env only finds `python` on PATH; we run sys.executable directly
        "interpreter": [sys.executable],
        "program": [str(sweep.config["program"])] if sweep.config.get("program") else [],
        **agent_flags(values),
    }
    out: list[str] = []
    for chunk in sweep.command or DEFAULT_COMMAND:
        if chunk.startswith("${") and chunk.endswith("}"):
            if chunk[2:-1] not in macros:
                raise SweepError(f"{sweep.path}: command macro {chunk} is not one W&B knows")
            out += macros[chunk[2:-1]]
        else:
            out.append(chunk)
    return out


def fit_args(sweep: Sweep, command: list[str]) -> list[str]:
    """The arguments given to ``python -m an_lightning.fit`` in ``command``."""
    for i in range(len(command) - 1):
        if command[i] == "-m" and command[i + 1] == FIT_MODULE:
            return command[i + 2 :]
    raise SweepError(
        f"{sweep.path}: the command must run `python -m {FIT_MODULE} CONFIG.yaml ${{args}}` "
        f"(got {' '.join(sweep.command) or 'the default ${program} command'})"
    )
