"""Cache keys and reference loaders of the DataModules, lossless copies of shards included."""

import shutil

import numpy as np
import pytest
import torch
from data_fixtures import class_folders
from fit_fixtures import ToyFeatures
from PIL import Image

from an_lightning.data import DigitsDataModule, FolderDataModule, ShardDataModule
from an_lightning.data.shards import Options, write_shards
from an_lightning.metrics.data_reference import data_reference, dataset_id, reference_images
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


def shard_data(out, **kw) -> ShardDataModule:
    return ShardDataModule(
        str(out / "shard-*.tar"), batch_size=4, num_workers=0, resampled=False, hflip=False, **kw
    )


def pixel_rows(batches) -> list[tuple[bytes, int]]:
    return [
        (bytes(img.numpy()), int(y))
        for images, labels in batches
        for img, y in zip(images, labels, strict=True)
    ]


@pytest.fixture(scope="module")
def shard_folders(tmp_path_factory):
    """The same 3 x 5 photos-like images as JPEG shards with and without lossless copies."""
    root = tmp_path_factory.mktemp("ref_shards")
    class_folders(root / "src", ["a", "b", "c"], 5, size=(20, 24))
    opts = Options(size=16, shard_size=4)
    write_shards(root / "src", root / "lossless", opts, progress=False)
    write_shards(root / "src", root / "jpeg", opts, progress=False, reference_images=0)
    return root


def test_shards_with_lossless_copies_give_a_lossless_reference(shard_folders, tmp_path, capsys):
    features = InceptionFeatures(ToyFeatures(), "toy", num_features=32)
    data = shard_data(shard_folders / "lossless")
    source = reference_images(data)
    assert source.pixels == "lossless" and source.note == ""
    rows = pixel_rows(source.batches)
    pngs = sorted((shard_folders / "lossless" / "lossless").glob("*/*.png"))
    want = [(bytes(np.array(Image.open(p)).transpose(2, 0, 1)), int(p.parent.name)) for p in pngs]
    assert sorted(rows) == sorted(want) and len(rows) == 15  # every copy once, with its label
    jpeg_rows = pixel_rows(data.reference_loader())
    assert sorted(y for _, y in jpeg_rows) == sorted(y for _, y in rows)
    assert set(jpeg_rows).isdisjoint(rows)  # the shards' decoded JPEGs differ

    lossless = data_reference(data, features, tmp_path, limit=15)
    old = data_reference(shard_data(shard_folders / "jpeg"), features, tmp_path, limit=15)
    assert lossless.dataset.endswith("-16px-15-lossless") and old.dataset.endswith("-jpeg95")
    assert len(list(tmp_path.glob("*.pt"))) == 2  # one cache file each: never mixed up
    assert not torch.equal(lossless.overall.mean, old.overall.mean)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: FID reference from JPEG-decoded shards")


def test_lossless_copies_are_split_over_ranks(shard_folders):
    seen = []
    for rank in range(2):
        data = shard_data(shard_folders / "lossless")
        data.rank_and_world = lambda rank=rank: (rank, 2)
        seen += pixel_rows(reference_images(data).batches)
    assert len(seen) == len(set(seen)) == 15


def test_an_index_whose_copies_are_missing_falls_back_to_jpeg(shard_folders, tmp_path):
    out = tmp_path / "copied"
    shutil.copytree(shard_folders / "lossless", out, ignore=shutil.ignore_patterns("lossless"))
    source = reference_images(shard_data(out))
    assert source.pixels == "jpeg95" and "holds none of the lossless copies" in source.note
    fewer = reference_images(shard_data(shard_folders / "lossless"), limit=100)
    assert fewer.pixels == "lossless" and fewer.note == ""  # all 15 training images are kept
    some = tmp_path / "some"
    write_shards(shard_folders / "src", some, Options(size=16, shard_size=4), progress=False,
                 reference_images=6)  # fmt: skip
    source = reference_images(shard_data(some), limit=10)
    assert len(pixel_rows(source.batches)) == 6
    assert source.note == "FID reference from the 6 lossless copies (of 10 asked)"
