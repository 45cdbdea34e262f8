"""Exact mid-epoch resume for map-style datasets.

Lightning restores its loop counters from a checkpoint but starts a fresh
DataLoader iterator, so a run resumed mid-epoch would see the epoch's first
batches again. ``ResumableSampler`` is a ``DistributedSampler`` (so Lightning
leaves it in place under DDP) whose order depends only on (seed, epoch, rank),
and which skips the batches the interrupted epoch had already trained on.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler


class ResumableSampler(DistributedSampler):
    """Per-rank shuffled indices of epoch e from seed + e; skips done batches once."""

    def __init__(
        self,
        dataset: Dataset,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        super().__init__(
            dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
        self._skip_epoch, self._skip = -1, 0

    def resume_at(self, epoch: int, samples_done: int) -> None:
        """Start ``epoch`` after its first ``samples_done`` indices (this rank's)."""
        self.set_epoch(epoch)
        self._skip_epoch, self._skip = epoch, samples_done

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        if self.epoch == self._skip_epoch:
            indices = indices[self._skip :]
        return iter(indices)


def resume_position(trainer) -> tuple[int, int]:
    """(epoch, batches already trained in it) of a restored fit; (0, 0) otherwise."""
    if trainer is None:
        return 0, 0
    loop = trainer.fit_loop
    return loop.epoch_progress.current.completed, loop.epoch_loop.batch_progress.current.ready
