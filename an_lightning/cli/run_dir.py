"""Run directories: one per experiment, resumed by re-running the same command.

A run directory holds ``checkpoints/`` (periodic ``<g_iter>.ckpt`` files and
``last.ckpt``, each with a ``.sha256`` beside it), Lightning's SLURM preemption
checkpoints (``hpc_ckpt_*.ckpt``), ``damaged/`` (checkpoints that failed verification,
set aside, never deleted), the configs and the logs. Nothing in it is overwritten by a
new start: a re-run resumes. ``select_checkpoint`` is the one rule that picks the
checkpoint for ``fit`` and for every command.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import torch

from .verified import DamagedCheckpoint, is_temporary, read_header, sidecar, verify

PERIODIC = re.compile(r"^g_iter=(\d+)\.ckpt$")  # ModelCheckpoint's "{g_iter:07.0f}" names


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


def candidates(run_dir: Path) -> list[Path]:
    """Every checkpoint file of the run: periodic, last and SLURM preemption ones."""
    found = [*run_dir.glob("checkpoints/*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    return [p for p in found if p.is_file() and not is_temporary(p)]


def set_aside(ckpt: Path, run_dir: Path, reason: str) -> Path:
    """Move a damaged checkpoint (and its checksum) to ``<run_dir>/damaged/``; warn once."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = run_dir / "damaged" / f"{ckpt.name}.{stamp}"
    dest.parent.mkdir(exist_ok=True)
    os.replace(ckpt, dest)
    if sidecar(ckpt).exists():
        os.replace(sidecar(ckpt), sidecar(dest))
    print(f"warning: checkpoint {ckpt} is damaged ({reason}); moved to {dest}", file=sys.stderr)
    return dest


def select_checkpoint(
    run_dir: Path, move_damaged: bool = False, skipped: list[str] | None = None
) -> Path | None:
    """The verified checkpoint of the run with the highest generator iteration, or None.

    Ties (``last.ckpt`` and the periodic file of the same iteration) go to the newest
    file. A file that fails verification is set aside (``move_damaged``: only the job
    that holds the run directory, i.e. fit, may move its files) or skipped, and the next
    one is tried, so every caller gets the same answer after any crash: the newest state
    that was completely written. A skipped file is warned about on stderr, or appended
    as ``"<file> (<reason>)"`` to ``skipped`` when the caller reports it itself.
    """
    ranked = []
    for ckpt in candidates(run_dir):
        try:
            g_iter = int(read_header(ckpt).get("g_iter", -1))
            ranked.append((g_iter, ckpt.stat().st_mtime_ns, ckpt))
        except FileNotFoundError:
            continue  # removed by the run's own rotation meanwhile
        except DamagedCheckpoint as err:
            _damaged(ckpt, run_dir, str(err), move_damaged, skipped)
    for _, _, ckpt in sorted(ranked, reverse=True):
        try:
            verify(ckpt)
            return ckpt
        except FileNotFoundError:
            continue
        except DamagedCheckpoint as err:
            _damaged(ckpt, run_dir, str(err), move_damaged, skipped)
    return None


def _damaged(ckpt: Path, run_dir: Path, reason: str, move: bool, skipped: list[str] | None) -> None:
    reason = " ".join(reason.split())
    if move:
        set_aside(ckpt, run_dir, reason)
    elif skipped is not None:
        skipped.append(f"{ckpt} ({reason})")
    else:
        print(f"warning: skipping damaged checkpoint {ckpt} ({reason})", file=sys.stderr)


def prune(saved: Path, keep: int = 1) -> list[Path]:
    """After ``saved`` was written and verified: drop the states it supersedes.

    Keeps the ``keep`` newest periodic checkpoints and ``last.ckpt``; removes older
    periodic ones (also those a crash left behind) and preemption checkpoints of an
    earlier iteration. Only ever called once a newer finite checkpoint is on disk.
    """
    match = PERIODIC.match(saved.name)
    if match is None or saved.parent.name != "checkpoints":
        return []
    run_dir, g_iter = saved.parent.parent, int(match.group(1))
    periodic = sorted(
        (int(m.group(1)), p)
        for p in candidates(run_dir)
        if p.parent == saved.parent and (m := PERIODIC.match(p.name))
    )
    older = [p for g, p in periodic if g < g_iter]
    doomed = older[: max(len(older) - (keep - 1), 0)]
    for hpc in run_dir.glob("hpc_ckpt_*.ckpt"):
        try:
            if int(read_header(hpc).get("g_iter", -1)) <= g_iter:
                doomed.append(hpc)
        except (DamagedCheckpoint, FileNotFoundError):
            continue  # the next start sets it aside
    for path in doomed:
        path.unlink(missing_ok=True)
        sidecar(path).unlink(missing_ok=True)
    return doomed


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the partial files of a writer that was killed mid-save (call under the lock)."""
    found = [*run_dir.glob(".*.tmp"), *run_dir.glob("checkpoints/.*.tmp")]
    for path in found:
        path.unlink(missing_ok=True)
    return found


def config_filename(run_dir: Path, folder: Path | None = None) -> str:
    """config.yaml for a new run, config.resume-N.yaml for the N-th re-run.

    ``folder`` is where the configs go (Lightning saves them in the first logger's
    folder, which is the run directory unless that logger has a name or version of its
    own). A start that finds no checkpoint is a new run: a config.yaml left by an
    earlier start that never saved one (stopped by an error) is the config of nothing
    and is replaced, so it cannot shadow the real one.
    """
    folder = run_dir if folder is None else folder
    if not (folder / "config.yaml").exists() or not candidates(run_dir):
        return "config.yaml"
    n = 1
    while (folder / f"config.resume-{n}.yaml").exists():
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
