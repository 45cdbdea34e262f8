"""Embedded demo data: scikit-learn's 1,797 real 8x8 handwritten digits, 10 classes.

They ship inside the scikit-learn wheel, so ``make demo`` trains a class-conditional GAN
with no download. Digits are upsampled (bilinear) to ``image_size`` and repeated to 3
channels; no flips (a mirrored digit is a different glyph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.data.base import ImageDataModule


def load_digits_uint8(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 ``(N, 3, S, S)`` images and int64 labels."""
    from sklearn.datasets import load_digits  # heavy import, only when the demo runs

    digits = load_digits()
    grey = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)  # stored as 0..16
    big = F.interpolate(grey, size=(image_size, image_size), mode="bilinear", antialias=False)
    images = big.clamp(0, 1).mul(255).round().to(torch.uint8).expand(-1, 3, -1, -1)
    return images.contiguous(), torch.from_numpy(digits.target).long()


class DigitsDataModule(ImageDataModule):
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
        super().__init__()
        if image_size < 8 or batch_size < 1 or num_workers < 0 or not 0 <= val_fraction < 1:
            raise ValueError(
                "need image_size >= 8, batch_size >= 1, num_workers >= 0, 0 <= val_fraction < 1"
            )
        self.save_hyperparameters()
        self.image_size = image_size
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.train_set is not None:
            return
        images, labels = load_digits_uint8(self.hparams.image_size)
        order = torch.randperm(
            len(labels), generator=torch.Generator().manual_seed(self.hparams.seed)
        )
        n_val = round(self.hparams.val_fraction * len(labels))
        val, train = order[:n_val], order[n_val:]
        self.train_set = TensorDataset(images[train], labels[train])
        self.val_set = TensorDataset(images[val], labels[val])

    def _loader(self, dataset: TensorDataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking DigitsDataModule for a dataloader")
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=self.train_sampler(dataset, self.hparams.seed) if train else None,
            drop_last=train and len(dataset) >= self.hparams.batch_size,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def reference_loader(self) -> DataLoader:
        self.setup("fit")
        return self.map_style_reference(self.train_set)

    def val_dataloader(self) -> DataLoader | list:
        if self.hparams.val_fraction == 0:
            return []
        return self._loader(self.val_set, train=False)
