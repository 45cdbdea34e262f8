import pytest
import torch

from an_lightning.data import DigitsDataModule
from an_lightning.data.digits_data import load_digits_uint8


def test_real_digits_upsampled_to_rgb():
    images, labels = load_digits_uint8(32)
    assert images.shape == (1797, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images[:, 0], images[:, 2])  # grey replicated to RGB
    assert torch.bincount(labels).tolist()[:3] == [178, 182, 177]  # sklearn's class counts
    # real strokes: dark background corners, bright pixels in the middle
    assert images[:, :, :2, :2].float().mean() < 10 and images.max() == 255


def test_datamodule_split_and_contract():
    dm = DigitsDataModule(image_size=16, batch_size=50, val_fraction=0.1, seed=3)
    dm.setup("fit")
    assert (dm.num_classes, dm.image_size) == (10, 16)
    assert len(dm.train_set) + len(dm.val_set) == 1797 and len(dm.val_set) == 180
    images, labels = dm.to_model_batch(next(iter(dm.train_dataloader())))
    assert images.shape == (50, 3, 16, 16) and images.dtype == torch.float32
    assert images.min() == -1 and images.max() <= 1 and labels.dtype == torch.int64
    assert not dm.hflip  # a mirrored digit is another glyph
    assert len(list(dm.train_dataloader())) == 1617 // 50
    train_ids = {tuple(x.flatten().tolist()) for x, _ in dm.train_set}
    val_ids = {tuple(x.flatten().tolist()) for x, _ in dm.val_set}
    assert len(train_ids & val_ids) < 5  # sklearn has a few identical digits, no leak
    with pytest.raises(ValueError, match="conditioned on 7 classes"):
        dm.check_num_classes(7)
    with pytest.raises(ValueError, match="image_size must be 8 or more, got 4"):
        DigitsDataModule(image_size=4)
