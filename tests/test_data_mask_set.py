"""The fixed evaluation mask set: reproducible, written once, read back identically."""

import pytest
import torch

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
    with pytest.raises(SystemExit) as exc:
        mask_set.main([str(tmp_path / "m"), "--size", "16", "--count", "2"])
    assert exc.value.code == 2 and "not empty" in capsys.readouterr().err
