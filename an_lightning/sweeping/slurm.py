"""Submit a grid sweep as one SLURM array: task i runs grid point i.

The job script is ``slurm/array.sbatch`` (``--signal=SIGUSR1@90``, ``--requeue``,
an ``srun`` launch so Lightning's SLURM environment handles preemption); the
options here (array size, partition, GPUs) override its ``#SBATCH`` defaults.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .spec import Sweep, SweepError

TEMPLATE = Path(__file__).resolve().parents[2] / "slurm" / "array.sbatch"


@dataclass(frozen=True)
class ArrayRequest:
    runs_root: Path
    partition: str | None = None
    gpus: int = 0  # per task; one srun task (DDP rank) per GPU
    max_parallel: int | None = None
    template: Path = TEMPLATE
    extra_sbatch: tuple[str, ...] = ()


def sbatch_command(
    sweep: Sweep, n_runs: int, request: ArrayRequest, fit_overrides: list[str]
) -> list[str]:
    """The ``sbatch`` call that runs all ``n_runs`` grid points."""
    if not request.template.is_file():
        raise SweepError(f"job script {request.template} does not exist (pass --template)")
    if request.max_parallel is not None and request.max_parallel < 1:
        raise SweepError(f"--max-parallel must be at least 1, got {request.max_parallel}")
    array = f"0-{n_runs - 1}" + (f"%{request.max_parallel}" if request.max_parallel else "")
    logs = request.runs_root / "slurm"
    cmd = [
        "sbatch",
        f"--array={array}",
        f"--job-name={sweep.name}",
        f"--output={logs}/{sweep.name}-%A_%a.out",
        f"--export=ALL,PYTHON={sys.executable}",
    ]
    if request.partition:
        cmd.append(f"--partition={request.partition}")
    if request.gpus:
        cmd += [f"--gres=gpu:{request.gpus}", f"--ntasks-per-node={request.gpus}"]
    cmd += [*request.extra_sbatch, str(request.template), str(sweep.path)]
    cmd += ["--runs-root", str(request.runs_root)]
    return [*cmd, "--", *fit_overrides] if fit_overrides else cmd


def submit(cmd: list[str], runs_root: Path) -> str:
    """Run ``sbatch``; returns its reply (``Submitted batch job N``)."""
    (runs_root / "slurm").mkdir(parents=True, exist_ok=True)  # SLURM does not make it
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SweepError("sbatch not found: run this on a SLURM login node") from None
    if done.returncode != 0:
        raise SweepError(f"sbatch failed: {' '.join(done.stderr.split())} ({shlex.join(cmd)})")
    return done.stdout.strip()
