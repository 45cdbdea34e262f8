import warnings

import pytest
import torch
from data_fixtures import class_folders, truncate

from an_lightning.data import FolderDataModule


@pytest.fixture
def folders(tmp_path):
    class_folders(tmp_path / "train", ["cat", "dog"], 5, size=(50, 36))
    class_folders(tmp_path / "val", ["cat", "dog"], 2)
    truncate(tmp_path / "train" / "dog" / "dog_4.JPEG", 200)
    return tmp_path


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_follow_the_contract_and_bad_files_are_skipped(folders, workers):
    dm = FolderDataModule(
        str(folders / "train"),
        str(folders / "val"),
        image_size=24,
        batch_size=5,
        num_workers=workers,
        max_bad_fraction=0.2,
    )
    assert (dm.num_classes, dm.image_size) == (2, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(dm.train_dataloader())
    labels = torch.cat([y for _, y in batches])
    images = torch.cat([x for x, _ in batches])
    assert images.shape[1:] == (3, 24, 24) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and dm.hflip
    assert len(batches) == 2 and len(labels) == 9  # 10 files, 1 truncated
    assert dm.train_stats.bad == 1 and dm.train_stats.good == 9
    val = list(dm.val_dataloader())
    assert sorted(torch.cat([y for _, y in val]).tolist()) == [0, 0, 1, 1]


def test_unlabelled_folder_and_class_mismatch(folders, tmp_path):
    flat = folders / "train" / "cat"
    dm = FolderDataModule(str(flat), image_size=16, batch_size=2, num_workers=0)
    assert dm.num_classes == 0
    _, labels = next(iter(dm.train_dataloader()))
    assert labels.tolist() == [-1, -1]
    class_folders(tmp_path / "val3", ["cat", "dog", "eel"], 1)
    with pytest.raises(ValueError, match="same <class> sub-folders"):
        FolderDataModule(str(folders / "train"), str(tmp_path / "val3"))
