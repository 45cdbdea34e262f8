"""Learned-layout pictures during training (the ``layouts`` command's, at fixed noise)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from ..loggers import log_image
from ..viz import save_png
from ..viz.layouts import layout_panels, task_layouts


class LayoutImages(Callback):
    """Every ``every`` generator iterations (and at the last), layouts of every AN layer
    in G (EMA) and D for ``per_class`` fixed-noise images of each of ``classes``,
    written to ``<run_dir>/layouts/`` and sent to the loggers (``layouts/<layer>``)."""

    def __init__(
        self, every: int = 5000, classes: list[int] | None = None, per_class: int = 2, seed: int = 0
    ) -> None:
        if every < 1 or per_class < 1:
            raise ValueError("LayoutImages needs every >= 1 and per_class >= 1")
        self.every, self.classes, self.per_class, self.seed = every, classes, per_class, seed
        self._done_at = -1

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = pl_module.g_iter
        last = step >= pl_module.hparams.max_g_steps
        if not trainer.is_global_zero or step == self._done_at:
            return
        if step % self.every == 0 or last:
            self._done_at = step
            self.write(trainer, pl_module)

    def write(self, trainer: L.Trainer, pl_module) -> list[Path]:
        classes = self.classes or list(range(min(pl_module.num_classes, 4)))
        images, found = task_layouts(pl_module, classes, self.per_class, self.seed)
        root = Path(trainer.default_root_dir) / "layouts"
        paths = []
        for name, layout in found.items():
            for kind, grid in layout_panels(images, layout).items():
                path = save_png(grid, root / f"{name}_{kind}_{pl_module.g_iter:07d}.png")
                log_image(pl_module.loggers, f"layouts/{name}/{kind}", path, grid, pl_module.g_iter)
                paths.append(path)
        return paths
