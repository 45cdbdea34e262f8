"""Embedded inpainting data: crops of scikit-image's photos, held-out validation photo."""

import pytest
import torch

from an_lightning.data.photos_data import PhotosDataModule, load_photo, random_crops


def test_crops_follow_the_batch_contract_and_the_seed():
    dm = PhotosDataModule(image_size=32, batch_size=4, train_crops=12, val_crops=4)
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 32, 32)
    assert labels.tolist() == [-1] * 4 and dm.num_classes == 0
    assert dm.val_set.tensors[0].shape == (4, 3, 32, 32)
    again = PhotosDataModule(image_size=32, train_crops=12, val_crops=4)
    again.setup("fit")
    assert torch.equal(dm.train_set.tensors[0], again.train_set.tensors[0])
    other = PhotosDataModule(image_size=32, train_crops=12, val_crops=4, seed=1)
    other.setup("fit")
    assert not torch.equal(dm.train_set.tensors[0], other.train_set.tensors[0])


def test_validation_crops_come_from_the_held_out_photo_only():
    photo = load_photo("astronaut")
    crops = random_crops([photo], 3, 16, 1.0, torch.Generator().manual_seed(0))
    # min_fraction 1: the whole (square) astronaut, resized
    assert torch.equal(crops[0], crops[1])
    dm = PhotosDataModule(image_size=16, train_crops=4, val_crops=3, min_fraction=1.0)
    dm.setup("fit")
    assert torch.equal(dm.val_set.tensors[0][0], crops[0])
    assert not any(torch.equal(c, crops[0]) for c in dm.train_set.tensors[0])


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown val_photos"):
        PhotosDataModule(val_photos=("lena",))
    with pytest.raises(ValueError, match="min_fraction"):
        PhotosDataModule(min_fraction=0.0)
