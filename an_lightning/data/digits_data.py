"""Embedded demo data: scikit-learn's 1,797 real 8x8 handwritten digits, 10 classes.

They ship inside the scikit-learn wheel, so ``make demo`` trains a class-conditional GAN
with no download. Digits are upsampled (bilinear) to ``image_size`` and repeated to 3
channels; no flips (a mirrored digit is a different glyph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from an_lightning.data.base import check_at_least
from an_lightning.data.embedded import EmbeddedDataModule, Split, random_split


def load_digits_uint8(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 ``(N, 3, S, S)`` images and int64 labels."""
    from sklearn.datasets import load_digits  # heavy import, only when the demo runs

    digits = load_digits()
    grey = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)  # stored as 0..16
    big = F.interpolate(grey, size=(image_size, image_size), mode="bilinear", antialias=False)
    images = big.clamp(0, 1).mul(255).round().to(torch.uint8).expand(-1, 3, -1, -1)
    return images.contiguous(), torch.from_numpy(digits.target).long()


class DigitsDataModule(EmbeddedDataModule):
    """Train/val split of the digits (``val_fraction`` held out, fixed by ``seed``)."""

    num_classes = 10

    def __init__(
        self,
        image_size: int = 32,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(image_size)
        check_at_least(image_size=(image_size, 8), batch_size=(batch_size, 1))
        check_at_least(num_workers=(num_workers, 0))
        if not 0 <= val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        self.save_hyperparameters()

    def load_splits(self) -> tuple[Split, Split | None]:
        hp = self.hparams
        images, labels = load_digits_uint8(hp.image_size)
        train, val = random_split(images, labels, hp.val_fraction, hp.seed)
        return train, (val if hp.val_fraction > 0 else None)
