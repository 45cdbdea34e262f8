"""The fixed evaluation mask set: reproducible, written once, read back identically."""

import pytest
import torch
from error_fixtures import command_refuses, refuses

from an_lightning.data import mask_set


def test_the_set_is_a_function_of_size_count_and_seed():
    a, b = mask_set.make_mask_set(32, 3, seed=5), mask_set.make_mask_set(32, 3, seed=5)
    assert list(a) == ["rect", "thin", "medium", "thick"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["medium"], mask_set.make_mask_set(32, 3, seed=6)["medium"])


def test_written_pngs_read_back_bit_exact(tmp_path):
    masks = mask_set.ensure_mask_set(tmp_path / "set", 32, 3, seed=1)
    assert sorted(p.name for p in (tmp_path / "set/thin").iterdir()) == [
        "0000.png",
        "0001.png",
        "0002.png",
    ]
    fresh = mask_set.make_mask_set(32, 3, seed=1)
    assert all(torch.equal(masks[k], fresh[k]) for k in fresh)
    again = mask_set.ensure_mask_set(tmp_path / "set", 32, 3, seed=1)  # reads, no rewrite
    assert all(torch.equal(masks[k], again[k]) for k in fresh)
    with pytest.raises(ValueError, match="expected 3 of 64x64"):
        mask_set.ensure_mask_set(tmp_path / "set", 64, 3)


def test_command_writes_a_set_and_refuses_a_full_folder(tmp_path, capsys):
    mask_set.main([str(tmp_path / "m"), "--size", "16", "--count", "2"])
    assert len(list((tmp_path / "m").rglob("*.png"))) == 4 * 2
    before = sorted((tmp_path / "m").rglob("*"))
    line = refuses(mask_set.main, [tmp_path / "m", "--size", "16", "--count", "2"], capsys)
    assert "is not empty; choose a new folder" in line
    assert sorted((tmp_path / "m").rglob("*")) == before


def test_command_refuses_degenerate_sets_and_unwritable_folders(tmp_path, capsys):
    out, file = tmp_path / "masks", tmp_path / "file"
    file.write_text("a file")
    cases = {
        (out, "--size", "4"): "--size must be 8 or more, got 4",
        (out, "--count", "0"): "--count must be 1 or more, got 0",
        (file,): f"mask folder {file} is a file",
        (file / "masks",): f"cannot be created: {file} is a file",
    }
    for argv, message in cases.items():
        assert message in refuses(mask_set.main, list(argv), capsys)
    assert not out.exists() and file.read_text() == "a file"
    line = command_refuses("an_lightning.data.mask_set", out, "--count", "-3", not_created=[out])
    assert "--count must be 1 or more, got -3" in line
