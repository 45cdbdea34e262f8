"""DataModule over plain image folders (``<class>/<image>`` or flat), no conversion needed.

Slower than shards on large sets (one file open per image), but handy for small data
and as the baseline of ``benchmarks/data_speed.py``. Same batch contract as the others.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate

from an_lightning.data.base import Batch, ImageDataModule, check_at_least
from an_lightning.data.failures import FailureStats
from an_lightning.data.preprocess import sngan_resize
from an_lightning.data.resume import Flipped
from an_lightning.data.sources import Item, discover

Sample = tuple[torch.Tensor, int]  # CHW uint8 image, label


class ImageFolderDataset(Dataset):
    """Items decoded with PIL and brought to ``size`` the SN-GAN way; bad files -> None."""

    def __init__(self, items: list[Item], size: int, stats: FailureStats) -> None:
        self.items, self.size, self.stats = items, size, stats

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Sample | None:
        item = self.items[i]
        try:
            with Image.open(item.path) as image:
                array = np.asarray(sngan_resize(image, self.size))
                chw = torch.from_numpy(array.copy()).permute(2, 0, 1)
        except Exception as exc:  # unreadable or truncated: skipped by the collate step
            self.stats.record_bad(str(item.path), f"{type(exc).__name__}: {exc}")
            return None
        self.stats.record_good()
        return chw, item.label


def collate_valid(samples: list[Sample | None]) -> Batch:
    """Stack the samples that decoded; failed files (None) were counted and are dropped."""
    return default_collate([s for s in samples if s is not None])


class FolderDataModule(ImageDataModule):
    """Image folders: ``root`` for training, optional ``val_root`` with the same classes."""

    def __init__(
        self,
        root: str,
        val_root: str | None = None,
        image_size: int = 128,
        batch_size: int = 64,
        num_workers: int = 2,
        hflip: bool = True,
        max_bad_fraction: float = 0.01,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.hflip = hflip
        check_at_least(batch_size=(batch_size, 1), image_size=(image_size, 1))
        check_at_least(num_workers=(num_workers, 0))
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be within [0, 1], got {max_bad_fraction}")
        self.save_hyperparameters()
        self.train_source = discover(root)
        self.val_source = discover(val_root) if val_root else None
        if self.val_source is not None and self.val_source.classes != self.train_source.classes:
            raise ValueError(
                f"class folders of {val_root} differ from those of {root}; both need the "
                "same <class> sub-folders."
            )
        self.num_classes = len(self.train_source.classes)
        self.image_size = image_size
        # Created with each loader (shared memory must not be pickled with the module).
        self.train_stats: FailureStats | None = None
        self.val_stats: FailureStats | None = None

    def _loader(self, items: list[Item], stats: FailureStats, train: bool) -> DataLoader:
        hp = self.hparams
        dataset = ImageFolderDataset(items, hp.image_size, stats)
        flips = train and hp.hflip
        return DataLoader(
            Flipped(dataset) if flips else dataset,
            batch_size=hp.batch_size,
            sampler=self.train_sampler(dataset, hp.seed, flips) if train else None,
            drop_last=train and len(items) >= hp.batch_size,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            collate_fn=collate_valid,
        )

    def train_dataloader(self) -> DataLoader:
        self.train_stats = FailureStats(self.hparams.max_bad_fraction)
        return self._loader(self.train_source.items, self.train_stats, train=True)

    def reference_loader(self) -> DataLoader:
        stats = FailureStats(self.hparams.max_bad_fraction)
        dataset = ImageFolderDataset(self.train_source.items, self.hparams.image_size, stats)
        return self.map_style_reference(dataset, collate_valid)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_source is None:
            return []
        self.val_stats = FailureStats(self.hparams.max_bad_fraction)
        return self._loader(self.val_source.items, self.val_stats, train=False)
