"""The shared in-memory DataModule: split once at setup, seeded loaders, flips, reference."""

import pytest
import torch

from an_lightning.data.embedded import EmbeddedDataModule, random_split


class Ramp(EmbeddedDataModule):
    """20 labelled 8x8 images whose pixels all equal their index."""

    num_classes = 4

    def __init__(
        self, batch_size: int = 6, num_workers: int = 0, seed: int = 0, val: bool = True
    ) -> None:
        super().__init__(image_size=8)
        self.save_hyperparameters()
        self.loads = 0

    def load_splits(self):
        self.loads += 1
        images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 3, 8, 8)
        images = images.clone()
        images[:, :, :, :4] = 0  # left half dark: a flip is visible
        labels = torch.arange(20) % 4
        train, val = random_split(images, labels, 0.25, self.hparams.seed)
        return train, (val if self.hparams.val else None)


def ids(batch) -> list[int]:
    return batch[0][:, 0, 0].amax(-1).tolist()


def test_random_split_is_seeded_and_disjoint():
    images, labels = torch.arange(10).view(10, 1), torch.arange(10)
    (ti, tl), (vi, vl) = random_split(images, labels, 0.3, seed=1)
    assert torch.equal(vi[:, 0], vl)
    assert len(vl) == 3 and len(tl) == 7 and torch.equal(ti[:, 0], tl)
    assert sorted(tl.tolist() + vl.tolist()) == list(range(10))
    (_, again), _ = random_split(images, labels, 0.3, seed=1)
    (_, other), _ = random_split(images, labels, 0.3, seed=2)
    assert torch.equal(again, tl) and not torch.equal(other, tl)


def test_splits_are_made_once_and_loaders_follow_the_contract():
    dm = Ramp()
    with pytest.raises(RuntimeError, match="call setup\\(\\) before asking Ramp"):
        dm.train_dataloader()
    dm.setup("fit")
    dm.setup("validate")
    assert dm.loads == 1 and len(dm.train_set) == 15 and len(dm.val_set) == 5
    batches = list(dm.train_dataloader())
    assert len(batches) == 15 // 6  # drop_last
    images, labels = batches[0]
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 8, 8)
    assert labels.tolist() == [i % 4 for i in ids(batches[0])]
    val = [i for b in dm.val_dataloader() for i in ids(b)]
    train = set(ids((dm.train_set.tensors[0], None)))
    assert len(val) == 5 and not set(val) & train
    # the reference: every training image once, unflipped
    ref = [i for b in dm.reference_loader() for i in ids(b)]
    assert sorted(ref) == sorted(train)
    assert all(torch.all(b[0][..., :4] == 0) for b in dm.reference_loader())


def test_no_validation_split_and_flips():
    dm = Ramp(val=False)
    dm.setup("fit")
    assert dm.val_set is None and dm.val_dataloader() == []
    assert not any(bool((b[0][..., 4:] == 0).all()) for b in dm.train_dataloader())
    dm.hflip = True  # a subclass's flag: mirrored images, by seeded coins
    flipped = [b[0] for b in dm.train_dataloader()]
    mirrored = [bool((x[..., 4:] == 0).all()) for batch in flipped for x in batch]
    assert any(mirrored) and not all(mirrored)
    again = [b[0] for b in dm.train_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(flipped, again, strict=True))
