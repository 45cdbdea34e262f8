"""What every DataModule of the suite promises to the LightningModules.

Loaders yield ``(images, labels)`` with ``images`` uint8 ``(B, 3, H, W)`` and ``labels``
int64 ``(B,)`` (-1 when unlabelled): uint8 is 4x less to move between processes and to the
GPU. ``on_after_batch_transfer`` then turns images into float32 in [-1, 1] on the device,
with a random horizontal flip (kornia, whole batch at once) while training unless the
loader flipped them already (``flips_in_loader``: the shard loader does it for free), so a
LightningModule always receives float32 ``(B, 3, H, W)`` in [-1, 1] and int64 labels.
Outside a Trainer, call ``to_model_batch`` yourself. ``num_classes`` is 0 when unlabelled.
"""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from an_lightning.data.augment import BatchAugment
from an_lightning.data.resume import ResumableSampler, resume_position

Batch = tuple[torch.Tensor, torch.Tensor]


class ImageDataModule(L.LightningDataModule):
    """Base class: batch conversion, class-count check against the model, rank info."""

    num_classes: int = 0
    image_size: int = 0
    hflip: bool = False
    flips_in_loader: bool = False  # True: training batches arrive flipped already

    def __init__(self) -> None:
        super().__init__()
        self._plain, self._flipping = BatchAugment(hflip=False), BatchAugment(hflip=True)

    @property
    def hparams_initial(self) -> AttributeDict:
        """What loggers get, prefixed ``data.``: Lightning merges these with the model's
        and refuses a key both have with different values (``seed``)."""
        own = super().hparams_initial
        return AttributeDict({f"data.{k}": v for k, v in own.items() if not k.startswith("_")})

    def to_model_batch(self, batch: Batch, flip: bool = False) -> Batch:
        """uint8 loader batch -> float32 [-1, 1] images (randomly flipped if ``flip``)."""
        images, labels = batch
        with torch.no_grad():
            return (self._flipping if flip else self._plain)(images), labels

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        training = self.trainer is not None and self.trainer.training
        return self.to_model_batch(batch, flip=self.device_flip and training)

    @property
    def device_flip(self) -> bool:
        """Whether training batches are flipped after the transfer (not by the loader)."""
        return self.hflip and not self.flips_in_loader

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

    def train_sampler(self, dataset, seed: int) -> ResumableSampler:
        """This rank's shuffled share of ``dataset``, resuming mid-epoch where a fit stopped."""
        rank, world = self.rank_and_world()
        sampler = ResumableSampler(dataset, rank, world, shuffle=True, seed=seed)
        epoch, batches_done = resume_position(self.trainer)
        if batches_done:
            sampler.resume_at(epoch, batches_done * self.hparams.batch_size)
        return sampler

    def reference_loader(self) -> Iterable[Batch]:
        """The training images once each, unflipped uint8, this rank's share: what FID's
        reference statistics are computed from (in a seeded random order, so a limit on
        the count takes a random subset)."""
        raise NotImplementedError(f"{type(self).__name__} has no reference_loader")

    def map_style_reference(self, dataset, collate_fn=None) -> DataLoader:
        """``reference_loader`` for a map-style dataset: a seeded permutation, strided by rank."""
        rank, world = self.rank_and_world()
        g = torch.Generator().manual_seed(self.hparams.seed)
        order = torch.randperm(len(dataset), generator=g)[rank::world].tolist()
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=order,
            num_workers=self.hparams.num_workers,
            collate_fn=collate_fn,
        )

    def rank_and_world(self) -> tuple[int, int]:
        """Global rank and world size from the trainer (0, 1 without one)."""
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size
