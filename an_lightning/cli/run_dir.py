"""Run directories: one per experiment, resumed by re-running the same command.

A run directory holds ``checkpoints/`` (periodic and ``last.ckpt``), Lightning's
SLURM preemption checkpoints (``hpc_ckpt_*.ckpt``), the configs and the logs.
Nothing in it is ever overwritten by a new start: a re-run resumes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


class RunError(ValueError):
    """A problem with a run directory or checkpoint, worded for the command line."""


def agent_run_dir(configured: Path) -> Path | None:
    """``<parent>/sweep-<id>/<run id>`` when started by ``wandb agent``, else None.

    The agent passes every run the same base config (so the same ``run_dir``) and
    names the run in ``WANDB_RUN_ID``: each run needs its own directory, named by
    that id so the W&B logger continues the agent's run, and so a run W&B re-queues
    after preemption (same id) resumes from its own checkpoints.
    """
    sweep, run = os.environ.get("WANDB_SWEEP_ID"), os.environ.get("WANDB_RUN_ID")
    if not (sweep and run):
        return None
    return configured.parent / f"sweep-{sweep}" / run


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recent of last.ckpt, periodic and preemption checkpoints, or None."""
    candidates = [*run_dir.glob("checkpoints/*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    candidates = [p for p in candidates if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def config_filename(run_dir: Path) -> str:
    """config.yaml for a new run, config.resume-N.yaml for the N-th re-run."""
    if not (run_dir / "config.yaml").exists():
        return "config.yaml"
    n = 1
    while (run_dir / f"config.resume-{n}.yaml").exists():
        n += 1
    return f"config.resume-{n}.yaml"


def check_compatible(ckpt: Path, model: torch.nn.Module) -> dict:
    """The checkpoint, or ``RunError`` if it was not written by a model shaped like ``model``."""
    try:
        # mmap: only names and shapes are read here; Lightning loads the tensors once, later.
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
        state = checkpoint["state_dict"]
    except Exception as err:
        raise RunError(
            f"cannot read checkpoint {ckpt}: {err}. Move it out of the run directory "
            "(or pass --run_dir to start a new run)."
        ) from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or reshaped:
        first = (missing or unexpected or reshaped)[0]
        raise RunError(
            f"checkpoint {ckpt} was written by a different model ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(reshaped)} reshaped weights; first: {first}). "
            "Use the config that wrote it, or pass --run_dir to start a new run."
        )
    return checkpoint
