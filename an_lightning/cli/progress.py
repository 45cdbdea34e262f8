"""A rich progress bar that counts generator iterations, the unit GAN runs are measured in."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar

from ..tasks.interface import GeneratorTask, provides


class GIterProgressBar(RichProgressBar):
    """Describes the bar as ``G iter i/N (epoch e)`` instead of Lightning's epoch counter.

    GAN runs stop on a generator-iteration budget (``max_g_steps``) with
    ``max_epochs=-1``, which the stock bar shows as ``Epoch 15/-2``. Only public hooks
    and the bar's public ``progress`` / ``train_progress_bar_id`` are used: the stock
    hooks run first, then the description is replaced.
    """

    def train_description(self, trainer, pl_module) -> str | None:
        """``G iter i/N (epoch e)``; None (the stock text) for modules without a G budget."""
        if not provides(pl_module, GeneratorTask):
            return None
        done, total = pl_module.g_iter, pl_module.max_g_steps
        return f"G iter {done}/{total} (epoch {trainer.current_epoch})"

    def describe(self, trainer, pl_module, refresh: bool = True) -> None:
        """Put ``train_description`` on the training bar, if there is one."""
        text = self.train_description(trainer, pl_module)
        if text is None or self.progress is None or self.train_progress_bar_id is None:
            return
        style = self.theme.description
        text = f"[{style}]{text}" if style else text
        self.progress.update(self.train_progress_bar_id, description=text)
        if refresh:
            self.refresh()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self.describe(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # The stock hook refreshes the bar; it creates it first after a mid-epoch resume.
        had_bar = self.train_progress_bar_id is not None
        if had_bar:
            self.describe(trainer, pl_module, refresh=False)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not had_bar:
            self.describe(trainer, pl_module)
