"""``--ref`` resolution: the checkpoint's own training data, a folder, or a clear refusal."""

import pytest
import torch
from PIL import Image

from an_lightning.cli.reference_source import check_ref, data_at, training_data
from an_lightning.cli.run_dir import RunError
from an_lightning.data import FolderDataModule

FOLDER = "an_lightning.data.folder_data.FolderDataModule"


@pytest.fixture
def folder(tmp_path):
    """A ``<class>/<image>`` folder of two classes."""
    root = tmp_path / "images"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(root / name / "0.png")
    return root


def checkpoint(path, datamodule: dict | None):
    torch.save({"state_dict": {}, "datamodule_hyper_parameters": datamodule}, path)
    return path


def test_training_data_rebuilds_the_recorded_datamodule(tmp_path, folder):
    recorded = {"_class_path": FOLDER, "root": str(folder), "image_size": 8, "batch_size": 2}
    ckpt = checkpoint(tmp_path / "last.ckpt", recorded)
    data = training_data(ckpt, batch_size=5, num_workers=0, not_an_option=1)
    assert isinstance(data, FolderDataModule)
    assert (data.image_size, data.num_classes) == (8, 2)
    assert (data.hparams.batch_size, data.hparams.num_workers) == (5, 0)  # overrides win


def test_training_data_refusals_name_the_fix(tmp_path, folder):
    with pytest.raises(RunError, match=r"does not record its training data: pass --ref"):
        training_data(checkpoint(tmp_path / "a.ckpt", None))
    with pytest.raises(RunError, match=r"was trained on torch\.nn\.Linear, which this version"):
        training_data(checkpoint(tmp_path / "b.ckpt", {"_class_path": "torch.nn.Linear"}))
    moved = {"_class_path": FOLDER, "root": str(tmp_path / "gone"), "image_size": 8}
    with pytest.raises(RunError, match=r"training data of .*c\.ckpt is not available here"):
        training_data(checkpoint(tmp_path / "c.ckpt", moved))


def test_check_ref(tmp_path):
    check_ref(str(tmp_path))
    check_ref(str(tmp_path / "shards-{0..3}.tar"))  # patterns are checked when expanded
    with pytest.raises(FileNotFoundError, match=r"^--ref .*missing\.pt does not exist: pass"):
        check_ref(str(tmp_path / "missing.pt"))


def test_data_at_an_image_folder(folder):
    data = data_at(str(folder), image_size=8, batch_size=3, num_workers=0)
    assert isinstance(data, FolderDataModule)
    assert (data.image_size, data.num_classes, data.hparams.hflip) == (8, 2, False)


def test_data_at_something_else_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(FileNotFoundError, match=r"is neither a statistics \.pt file, shards"):
        data_at(str(tmp_path / "notes.txt"), image_size=8, batch_size=3, num_workers=0)
