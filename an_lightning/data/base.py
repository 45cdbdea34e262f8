"""What every DataModule of the suite promises to the LightningModules.

Batches are tuples ``(images, labels)``: ``images`` float32 ``(B, 3, H, W)`` in [-1, 1],
``labels`` int64 ``(B,)``, -1 for unlabelled data. ``num_classes`` is 0 for unlabelled data.
"""

from __future__ import annotations

import lightning as L


class ImageDataModule(L.LightningDataModule):
    """Base class: class-count check against the model, and this process's rank."""

    num_classes: int = 0
    image_size: int = 0

    def check_num_classes(self, expected: int) -> None:
        """Raise if a class-conditional model (``expected`` > 0) disagrees with the data."""
        if expected > 0 and expected != self.num_classes:
            raise ValueError(
                f"the model is conditioned on {expected} classes but {type(self).__name__} "
                f"has {self.num_classes}; set the model's num_classes to {self.num_classes} "
                "(in YAML: link it to data.num_classes) or point the data at the right set."
            )

    def setup(self, stage: str) -> None:
        model = self.trainer.lightning_module if self.trainer is not None else None
        expected = getattr(model, "num_classes", None)
        if isinstance(expected, int):
            self.check_num_classes(expected)

    def rank_and_world(self) -> tuple[int, int]:
        """Global rank and world size from the trainer (0, 1 without one)."""
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size
