"""Cache keys and reference loaders of the DataModules."""

import torch
from data_fixtures import class_folders
from fit_fixtures import ToyFeatures

from an_lightning.data import DigitsDataModule, FolderDataModule
from an_lightning.metrics.data_reference import data_reference, dataset_id
from an_lightning.metrics.features import InceptionFeatures


def test_the_key_ignores_how_images_are_loaded_but_not_which():
    base = dataset_id(DigitsDataModule(32, batch_size=64), None)
    assert base == dataset_id(DigitsDataModule(32, batch_size=8, num_workers=1, seed=3), None)
    assert base != dataset_id(DigitsDataModule(16), None)
    assert base != dataset_id(DigitsDataModule(32, val_fraction=0.2), None)
    assert dataset_id(DigitsDataModule(32), 100).endswith("-32px-100") and base.endswith("-all")
    cli_like = DigitsDataModule(32)
    cli_like._hparams["_class_path"] = "an_lightning.data.DigitsDataModule"  # LightningCLI adds it
    assert dataset_id(cli_like, None) == base


def test_folder_reference_covers_every_image_once_across_ranks(tmp_path):
    class_folders(tmp_path, ["a", "b", "c"], 5, size=(20, 24))
    seen = []
    for rank in range(2):
        data = FolderDataModule(str(tmp_path), image_size=16, batch_size=4, num_workers=0)
        data.rank_and_world = lambda rank=rank: (rank, 2)
        for images, labels in data.reference_loader():
            assert images.dtype == torch.uint8 and images.shape[1:] == (3, 16, 16)
            seen += [(bytes(img.numpy()), int(y)) for img, y in zip(images, labels, strict=True)]
    assert len(seen) == 15 and len(set(seen)) == 15
    assert sorted(y for _, y in seen) == [0] * 5 + [1] * 5 + [2] * 5


def test_data_reference_is_computed_once_then_read(tmp_path):
    features = InceptionFeatures(ToyFeatures(), "toy", num_features=32)
    data = DigitsDataModule(16, batch_size=50)
    first = data_reference(data, features, tmp_path, limit=120)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and first.overall.count == 120
    stamp = files[0].stat().st_mtime_ns
    again = data_reference(data, features, tmp_path, limit=120)
    assert files[0].stat().st_mtime_ns == stamp
    assert torch.equal(again.overall.mean, first.overall.mean)
