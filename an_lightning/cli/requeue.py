"""SLURM's warning signal: checkpoint at the end of a generator iteration, then requeue.

Lightning's own SIGUSR1 handler saves ``hpc_ckpt_N.ckpt`` from inside the signal
handler, wherever the step happens to be: between the D and G steps of an iteration
the file holds a D step that the resumed run repeats (not bit-exact), and a
``global_step`` that is no longer a multiple of the optimizer steps per iteration, so
``ModelCheckpoint(every_n_train_steps=...)`` never fires again after the resume.

``RequeueAtIteration`` installs its own handler before Lightning registers one (Lightning
then leaves SIGUSR1 alone; its SIGTERM handling is unchanged). The handler only sets a
flag; the next end of a training batch, i.e. of a whole generator iteration, saves the
checkpoint and calls ``scontrol requeue`` as Lightning does. Under DDP the ranks agree
on the logging cadence (one boolean all-reduce every ``log_every_n_steps`` iterations,
not per step), so all of them save at the same iteration; SLURM's ``--signal=SIGUSR1@90``
leaves 90 s for that.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.callbacks import Callback

from ..tasks.interface import GeneratorTask

HPC = re.compile(r"^hpc_ckpt_(\d+)\.ckpt$")


def next_hpc_path(run_dir: Path) -> Path:
    """``<run_dir>/hpc_ckpt_N.ckpt`` with N one above the highest there (Lightning's names)."""
    taken = [int(m.group(1)) for p in run_dir.glob("hpc_ckpt_*.ckpt") if (m := HPC.match(p.name))]
    return run_dir / f"hpc_ckpt_{max(taken, default=0) + 1}.ckpt"


def slurm_job() -> str | None:
    """The id ``scontrol requeue`` takes: ``ARRAY_TASK`` for array tasks, else the job id."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array is not None:
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


class RequeueAtIteration(Callback):
    """On SIGUSR1 under SLURM: save ``hpc_ckpt_N.ckpt`` after the current iteration, requeue."""

    task_interface = GeneratorTask  # requeues on a generator-iteration boundary

    def __init__(self, run_dir: Path, signum: signal.Signals = signal.SIGUSR1) -> None:
        self.run_dir = Path(run_dir)
        self.signum = signum
        self.signalled = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        self.signalled = True  # acted on at the end of the iteration

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and SLURMEnvironment.detect():
            self._previous = signal.signal(self.signum, self._handler)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous is not None:
            signal.signal(self.signum, self._previous)
            self._previous = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._decided(trainer, pl_module):
            return
        self.signalled = False
        for logger in trainer.loggers:
            logger.save()
        # Every rank saves (only rank 0 writes), under rank 0's name for the file.
        trainer.save_checkpoint(trainer.strategy.broadcast(next_hpc_path(self.run_dir)))
        if trainer.is_global_zero:
            self._requeue()

    def _decided(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        if trainer.world_size == 1:
            return self.signalled
        if pl_module.g_iter % max(trainer.log_every_n_steps, 1):
            return False
        return trainer.strategy.reduce_boolean_decision(self.signalled, all=False)

    def _requeue(self) -> None:
        job = slurm_job()
        if job is None:
            return
        try:
            result = subprocess.call(["scontrol", "requeue", job])
        except FileNotFoundError:
            result = None
        if result != 0:
            print(f"warning: scontrol requeue {job} failed ({result})", file=sys.stderr)
