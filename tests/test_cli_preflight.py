"""Argument checks before anything is loaded or written: clear messages, nothing created."""

import os

import pytest
import torch
from error_fixtures import fake_checkpoint

from an_lightning.cli import preflight
from an_lightning.cli.run_dir import RunError
from an_lightning.tasks import ClassConditionalGAN


def test_at_least():
    preflight.at_least(None, 1, "--num-samples")
    preflight.at_least(1, 1, "--num-samples")
    with pytest.raises(ValueError, match=r"^--num-samples must be 1 or more, got 0$"):
        preflight.at_least(0, 1, "--num-samples")


def test_output_folder_new_or_existing_creates_nothing(tmp_path):
    new = tmp_path / "a" / "b"
    assert preflight.output_folder(new, "--out") == new
    assert preflight.output_folder(tmp_path, "--out") == tmp_path
    assert not (tmp_path / "a").exists()


def test_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match=r"--out .*/f is a file, but names the folder"):
        preflight.output_folder(tmp_path / "f", "--out")
    with pytest.raises(ValueError, match=r"cannot be created: .*/f is a file, not a folder"):
        preflight.output_folder(tmp_path / "f" / "sub", "--out")


def test_output_file(tmp_path):
    assert preflight.output_file(tmp_path / "new" / "x.pt", "--out") == tmp_path / "new" / "x.pt"
    with pytest.raises(ValueError, match=r"^--out .* is a folder; pass the path of the file"):
        preflight.output_file(tmp_path, "--out")
    assert not (tmp_path / "new").exists()


def test_a_broken_link_is_named(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(ValueError, match=r"--out .*link/x: .*link is a broken link"):
        preflight.output_folder(tmp_path / "link" / "x", "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match=r"cannot be written: .*locked is not writable by you"):
        preflight.output_folder(locked / "out", "--out")


def test_device():
    assert preflight.device("cpu") == "cpu"
    with pytest.raises(ValueError, match=r"^--device 'gpu0' is not a torch device"):
        preflight.device("gpu0")
    with pytest.raises(ValueError, match=r"^--device meta holds no data"):
        preflight.device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(
            ValueError, match=r"^--device cuda is not usable here \(.*\); use --device cpu$"
        ):
            preflight.device("cuda")


def test_a_checkpoint_that_cannot_be_rebuilt_is_named(tmp_path):
    path = fake_checkpoint(tmp_path / "last.ckpt", "an_lightning.tasks.ClassConditionalGAN")
    with pytest.raises(RunError) as caught:
        preflight.load_checkpoint(path, ClassConditionalGAN)
    message = str(caught.value)
    assert message.startswith(f"cannot load the model from {path} (KeyError: ")
    assert message.endswith(
        "pass a checkpoint written by this version's `python -m an_lightning.fit`"
    )


def test_a_damaged_checkpoint_keeps_its_own_message(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match=rf"^checkpoint {path} is damaged: "):
        preflight.load_checkpoint(path, ClassConditionalGAN)
