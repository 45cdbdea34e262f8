"""A rich progress bar that counts generator iterations, the unit GAN runs are measured in."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar


class GIterProgressBar(RichProgressBar):
    """Describes the bar as ``G iter i/N`` instead of Lightning's epoch counter.

    GAN runs stop on a generator-iteration budget (``max_g_steps``) with
    ``max_epochs=-1``, which the stock bar shows as ``Epoch 15/-2``.
    """

    def _get_train_description(self, current_epoch: int) -> str:
        module = self.trainer.lightning_module
        done, total = getattr(module, "g_iter", None), module.hparams.get("max_g_steps")
        if done is None or total is None:
            return super()._get_train_description(current_epoch)
        return f"G iter {done}/{total} (epoch {current_epoch})"

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.progress is not None and self.train_progress_bar_id is not None:
            description = self._get_train_description(trainer.current_epoch)
            self.progress.update(self.train_progress_bar_id, description=description)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
