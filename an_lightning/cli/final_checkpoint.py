"""Save the state training ended in, whatever ``checkpoint_every`` is.

ModelCheckpoint saves every N optimizer steps; a run whose ``max_g_steps`` is not a
multiple of N ended with ``last.ckpt`` up to N - 1 iterations behind, so evaluation
scored an older model and a re-run "resumed" a finished run.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from ..tasks.interface import GeneratorTask


class FinalCheckpoint(Callback):
    """Write ``<dirpath>/last.ckpt`` at the end of training unless it is up to date."""

    task_interface = GeneratorTask  # reads g_iter

    def __init__(self, dirpath: Path) -> None:
        self.dirpath = Path(dirpath)
        self._saved_at: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._saved_at = pl_module.g_iter  # what the run started (or resumed) from

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._saved_at = pl_module.g_iter

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.g_iter != self._saved_at:
            trainer.save_checkpoint(self.dirpath / "last.ckpt")
