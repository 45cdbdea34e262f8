"""What every DataModule of the suite promises to the LightningModules.

Loaders yield ``(images, labels)`` with ``images`` uint8 ``(B, 3, H, W)`` and ``labels``
int64 ``(B,)`` (-1 when unlabelled): uint8 is 4x less to move between processes and to the
GPU. ``on_after_batch_transfer`` then turns images into float32 in [-1, 1] on the device,
so a LightningModule always receives float32 ``(B, 3, H, W)`` in [-1, 1] and int64 labels.
Outside a Trainer, call ``to_model_batch`` yourself. ``num_classes`` is 0 when unlabelled.

Training flips are made by the loaders, with coins drawn from the same seeded generators
as the data order (``resume``, ``pipeline``): they are part of the order, and a resumed
run gets the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import lightning as L
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from an_lightning.data.resume import ResumableSampler, resume_position

Batch = tuple[torch.Tensor, torch.Tensor]


def check_at_least(**limits: tuple[float | None, float]) -> None:
    """``ValueError`` naming the first argument below its minimum (``name=(value,
    minimum)``; a None value is not checked), so a config error names the one key."""
    for name, (value, minimum) in limits.items():
        if value is not None and value < minimum:
            raise ValueError(f"{name} must be {minimum} or more, got {value}")


def to_model_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1] (on whatever device they are)."""
    return images.to(torch.float32).div(127.5).sub_(1.0)


class ImageDataModule(L.LightningDataModule):
    """Base class: batch conversion, class-count check against the model, rank info."""

    num_classes: int = 0
    image_size: int = 0
    hflip: bool = False

    @property
    def hparams_initial(self) -> AttributeDict:
        """What loggers get, prefixed ``data.``: Lightning merges these with the model's
        and refuses a key both have with different values (``seed``)."""
        own = super().hparams_initial
        return AttributeDict({f"data.{k}": v for k, v in own.items() if not k.startswith("_")})

    def to_model_batch(self, batch: Batch) -> Batch:
        """uint8 loader batch -> float32 [-1, 1] images, labels unchanged."""
        images, labels = batch
        return to_model_images(images), labels

    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        return self.to_model_batch(batch)

    def check_num_classes(self, expected: int) -> None:
        """Raise if a class-conditional model (``expected`` > 0) disagrees with the data."""
        if expected > 0 and expected != self.num_classes:
            raise ValueError(
                f"the model is conditioned on {expected} classes but {type(self).__name__} "
                f"has {self.num_classes}; remove num_classes from the generator and discriminator "
                "(the fit CLI takes it from the data) or point the data at the right set."
            )

    def setup(self, stage: str) -> None:
        model = self.trainer.lightning_module if self.trainer is not None else None
        expected = getattr(model, "num_classes", None)
        if isinstance(expected, int):
            self.check_num_classes(expected)

    def train_sampler(self, dataset, seed: int, flips: bool = False) -> ResumableSampler:
        """This rank's shuffled share of ``dataset``, each epoch starting where the fit
        stands (mid-epoch after a resume); with ``flips`` it yields ``(index, flip)`` for a
        ``resume.Flipped`` dataset."""
        rank, world = self.rank_and_world()
        sampler = ResumableSampler(dataset, rank, world, shuffle=True, seed=seed, flips=flips)
        batch = self.hparams.batch_size
        per_epoch = max(1, sampler.num_samples // batch)

        def position() -> tuple[int, int] | None:
            at = self.fit_position(per_epoch)  # None outside a fit: set_epoch decides
            return None if at is None else (at[0], at[1] * batch)

        sampler.position = position
        return sampler

    def fit_position(self, batches_per_epoch: int) -> tuple[int, int] | None:
        """(epoch, batches trained in it) of the fit this DataModule serves; None outside
        a fit. The loaders ask at every epoch start (``resume.resume_position``)."""
        if getattr(self.trainer, "fit_loop", None) is None:
            return None
        return resume_position(self.trainer, batches_per_epoch)

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
