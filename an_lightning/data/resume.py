"""Exact mid-epoch resume, and flips that resume with the data.

Lightning restores its loop counters from a checkpoint but starts a fresh loader
iterator, so a run resumed mid-epoch would see the epoch's first batches again. The
loaders of this package instead ask ``resume_position`` where the restored fit stands
(the loop counters are the one record of how many batches were trained on) and continue
from there: ``ResumableSampler`` for map-style datasets, ``ShardLoader`` for shards.

Random flips are part of the data order: the sampler draws one coin per index from the
same (seed, epoch) generator as the order, so a resumed epoch gets the same flips too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler


class ResumableSampler(DistributedSampler):
    """Per-rank shuffled indices of epoch e from seed + e; skips done batches once.

    ``position`` (in a fit) says (epoch, samples of this rank already trained on) each
    time an epoch starts; without it, ``set_epoch`` and ``resume_at`` decide.
    With ``flips`` it yields ``(index, flip)`` pairs for a ``Flipped`` dataset: the coins
    come from a generator seeded by (seed, epoch), drawn for the whole epoch before the
    rank split, so they belong to the samples, not to the rank or the resume point.
    """

    def __init__(
        self,
        dataset: Dataset,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
        flips: bool = False,
        position: Callable[[], tuple[int, int] | None] = lambda: None,
    ) -> None:
        super().__init__(
            dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self.flips, self.position = flips, position
        self._skip_epoch, self._skip = -1, 0

    def resume_at(self, epoch: int, samples_done: int) -> None:
        """Start ``epoch`` after its first ``samples_done`` indices (this rank's)."""
        self.set_epoch(epoch)
        self._skip_epoch, self._skip = epoch, samples_done

    def __iter__(self) -> Iterator[int] | Iterator[tuple[int, bool]]:
        at = self.position()  # in a fit: where it stands, whatever set_epoch was told
        if at is not None:
            self.resume_at(*at)
        indices = list(super().__iter__())
        start = self._skip if self.epoch == self._skip_epoch else 0
        if not self.flips:
            return iter(indices[start:])
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        coins = (torch.rand(len(self.dataset), generator=g) < 0.5).tolist()
        return iter([(i, coins[i]) for i in indices[start:]])


class Flipped(Dataset):
    """``dataset`` keyed by ``(index, flip)``: its CHW image mirrored left-right if ``flip``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, bool]):
        index, flip = key
        sample = self.dataset[index]
        if sample is None or not flip:  # None: a file that failed to load (folder data)
            return sample
        image, label = sample
        return image.flip(-1), label


def resume_position(trainer, batches_per_epoch: int) -> tuple[int, int]:
    """(epoch, batches already trained in it) of a fit; (0, 0) without a trainer.

    Counted from Lightning's total of trained batches, which every checkpoint restores:
    epochs have a fixed length here, so the total says the epoch and the place in it.
    (Lightning's own per-epoch counters are off for the epoch after a resume from an
    epoch's last batch: a checkpoint inside it would restore as "epoch finished".)
    """
    loop = getattr(trainer, "fit_loop", None)
    if loop is None:
        return 0, 0
    return divmod(loop.epoch_loop.batch_progress.total.ready, batches_per_epoch)
