"""Tell a W&B sweep that a run stopped by SLURM preemption should be re-queued.

Under SLURM, SIGUSR1 saves ``hpc_ckpt_N.ckpt`` at the end of the generator iteration
and runs ``scontrol requeue`` (``requeue.RequeueAtIteration``); Lightning handles
SIGTERM (stop at the next batch). A requeued array task or
plain job re-runs the same command and resumes from its run directory. A
``wandb agent`` task instead asks the sweep server for a run: W&B hands the same
run (same id, so the same run directory) back only if the run was marked
preempting before it exited non-zero; otherwise it counts as crashed.
"""

from __future__ import annotations

import os

from lightning.pytorch import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException


class SweepPreemption(Callback):
    """On a SIGTERM stop inside a W&B sweep run, call ``wandb.run.mark_preempting()``."""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException) or not os.environ.get("WANDB_SWEEP_ID"):
            return
        import wandb

        if wandb.run is not None:
            wandb.run.mark_preempting()
