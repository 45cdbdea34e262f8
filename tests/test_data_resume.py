"""ResumableSampler: order fixed by (seed, epoch, rank), done batches skipped once."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.data.resume import ResumableSampler

DATA = TensorDataset(torch.arange(40))


def order(sampler) -> list[int]:
    return list(iter(sampler))


def test_order_depends_on_seed_and_epoch_only():
    a, b = ResumableSampler(DATA, seed=3), ResumableSampler(DATA, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert order(a) == order(b) and sorted(order(a)) == list(range(40))
    b.set_epoch(3)
    assert order(a) != order(b)


def test_ranks_split_the_data():
    parts = [order(ResumableSampler(DATA, rank=r, world_size=2, seed=0)) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == 20
    assert sorted(parts[0] + parts[1]) == list(range(40))


def test_resume_skips_done_batches_in_that_epoch_only():
    full = ResumableSampler(DATA, seed=1)
    full.set_epoch(4)
    resumed = ResumableSampler(DATA, seed=1)
    resumed.resume_at(epoch=4, samples_done=3 * 8)
    loader = DataLoader(DATA, batch_size=8, sampler=resumed, drop_last=True)
    got = [b[0].tolist() for b in loader]
    want = [order(full)[i : i + 8] for i in range(24, 40, 8)]
    assert got == want
    resumed.set_epoch(5)  # the next epoch is whole again
    full.set_epoch(5)
    assert order(resumed) == order(full)
