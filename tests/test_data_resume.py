"""ResumableSampler: order and flips fixed by (seed, epoch, rank), done batches skipped once."""

from types import SimpleNamespace

import torch
from torch.utils.data import DataLoader, TensorDataset

from an_lightning.data.resume import Flipped, ResumableSampler, resume_position

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


def test_flips_belong_to_the_samples_of_an_epoch_and_resume_with_them():
    images = torch.arange(40 * 3 * 2 * 2, dtype=torch.uint8).view(40, 3, 2, 2)
    data = Flipped(TensorDataset(images, torch.arange(40)))
    full = ResumableSampler(data, seed=1, flips=True)
    full.set_epoch(2)
    pairs = order(full)
    assert sorted(i for i, _ in pairs) == list(range(40))
    assert 5 < sum(f for _, f in pairs) < 35  # coins, not all or nothing
    resumed = ResumableSampler(data, seed=1, flips=True)
    resumed.resume_at(epoch=2, samples_done=16)
    assert order(resumed) == pairs[16:]
    ranks = [ResumableSampler(data, rank=r, world_size=2, seed=1, flips=True) for r in (0, 1)]
    for r in ranks:
        r.set_epoch(2)
    assert dict(order(ranks[0]) + order(ranks[1])) == dict(pairs)  # a sample's coin, any rank
    full.set_epoch(3)
    assert order(full) != pairs
    for (i, flip), (image, label) in zip(pairs, DataLoader(data, sampler=pairs), strict=True):
        assert label.item() == i
        assert torch.equal(image[0], images[i].flip(-1) if flip else images[i])


def test_resume_position_counts_from_the_total_of_trained_batches():
    def trainer(total: int) -> SimpleNamespace:
        batches = SimpleNamespace(total=SimpleNamespace(ready=total))
        return SimpleNamespace(
            fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=batches))
        )

    assert resume_position(None, 12) == (0, 0)
    assert resume_position(trainer(41), 12) == (3, 5)
    assert resume_position(trainer(48), 12) == (4, 0)  # saved after an epoch's last batch


def test_a_position_overrides_set_epoch():
    at = [(2, 16)]
    sampler = ResumableSampler(DATA, seed=1, position=lambda: at[0])
    sampler.set_epoch(7)  # what Lightning may say; the fit's position decides
    full = ResumableSampler(DATA, seed=1)
    full.set_epoch(2)
    assert order(sampler) == order(full)[16:]
    at[0] = (3, 0)
    full.set_epoch(3)
    assert order(sampler) == order(full)
