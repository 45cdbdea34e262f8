"""The DataModule part shared by the embedded data sets (digits, photo crops): in-memory
uint8 tensors split into train/val once at setup, then the suite's loaders.

A subclass only says how its images are made (``load_splits``); the loaders are the
same for all: training batches from the resumable seeded sampler (flipped when the
DataModule's ``hflip`` is on), validation in order, and the training images once each
as the FID reference.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.data.base import ImageDataModule
from an_lightning.data.resume import Flipped

# uint8 images (N, 3, S, S) and int64 labels (N,) (-1 when unlabelled)
Split = tuple[Tensor, Tensor]


def random_split(
    images: Tensor, labels: Tensor, val_fraction: float, seed: int
) -> tuple[Split, Split]:
    """``(train, val)`` of one labelled set: a seeded permutation, its first
    ``round(val_fraction * N)`` images held out."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = round(val_fraction * len(labels))
    val, train = order[:n_val], order[n_val:]
    return (images[train], labels[train]), (images[val], labels[val])


class EmbeddedDataModule(ImageDataModule):
    """Base of the in-memory DataModules; subclasses save their hyperparameters (with
    ``batch_size``, ``num_workers`` and ``seed``) and implement ``load_splits``."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def load_splits(self) -> tuple[Split, Split | None]:
        """The training and validation images and labels (validation None: no split)."""
        raise NotImplementedError(f"{type(self).__name__} must implement load_splits")

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.train_set is not None:
            return
        train, val = self.load_splits()
        self.train_set = TensorDataset(*train)
        self.val_set = None if val is None else TensorDataset(*val)

    def _loader(self, dataset: TensorDataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call setup() before asking {type(self).__name__} for a dataloader")
        flips = train and self.hflip
        return DataLoader(
            Flipped(dataset) if flips else dataset,
            batch_size=self.hparams.batch_size,
            sampler=self.train_sampler(dataset, self.hparams.seed, flips) if train else None,
            drop_last=train and len(dataset) >= self.hparams.batch_size,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return self._loader(self.val_set, train=False)

    def reference_loader(self) -> DataLoader:
        self.setup("fit")
        return self.map_style_reference(self.train_set)
