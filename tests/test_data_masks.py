"""Inpainting masks: random training masks (the promised sizes, scaling with the image,
reproducibility) and the fixed evaluation set (reproducible, written once, read back
identically, checked) with its command."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from error_fixtures import command_refuses, refuses
from PIL import Image

from an_lightning.cli import mask_set
from an_lightning.data import masks
from an_lightning.data.masks import MaskSpec


def extents(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    hole = masks[:, 0] > 0.5
    return hole.any(dim=2).sum(dim=1), hole.any(dim=1).sum(dim=1)


def test_rectangles_are_128_px_boxes_up_to_32_px_smaller_at_256():
    masks = MaskSpec("rect").sample(600, (256, 256), torch.Generator().manual_seed(0))
    heights, widths = extents(masks)
    for side in (heights, widths):
        assert side.min() == 96 and side.max() == 128
        assert side.remainder(2).eq(0).all()  # shrunk by the same amount on both sides
        assert 108 < side.float().mean() < 116
    hole = masks[:, 0] > 0.5
    area = hole.sum(dim=(1, 2))
    assert torch.equal(area, heights * widths)  # solid rectangles
    tops = hole.any(dim=2).float().argmax(dim=1)
    assert tops.min() <= 4 and tops.max() >= 140  # anywhere in the image


def test_rectangles_scale_with_the_image():
    masks = MaskSpec("rect").sample(400, (64, 64), torch.Generator().manual_seed(0))
    heights, widths = extents(masks)
    assert heights.min() == 24 and heights.max() == 32 and widths.max() == 32


def test_stroke_presets_cover_increasing_areas():
    area = {}
    for kind in ("thin", "medium", "thick"):
        masks = MaskSpec(kind).sample(12, (64, 64), torch.Generator().manual_seed(0))
        assert set(masks.unique().tolist()) <= {0.0, 1.0}
        area[kind] = masks.mean().item()
    assert 0.01 < area["thin"] < area["medium"] < area["thick"] < 0.6


@pytest.mark.parametrize("kind", ["rect", "medium"])
def test_the_same_seed_gives_the_same_masks(kind):
    def draw(seed):
        return MaskSpec(kind).sample(4, (64, 64), torch.Generator().manual_seed(seed))

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="unknown mask kind"):
        MaskSpec("square")
    with pytest.raises(ValueError, match="max_shrink"):
        MaskSpec("rect", hole=0.5, max_shrink=0.6)


# -- the fixed evaluation set --------------------------------------------------------
def test_the_set_is_a_function_of_size_count_and_seed():
    a, b = masks.make_mask_set(32, 3, seed=5), masks.make_mask_set(32, 3, seed=5)
    assert list(a) == ["rect", "thin", "medium", "thick"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["medium"], masks.make_mask_set(32, 3, seed=6)["medium"])
    # a preset's masks do not depend on which other presets are asked for
    alone = masks.make_mask_set(32, 3, seed=5, presets=("medium",))
    assert torch.equal(alone["medium"], a["medium"])


def test_written_pngs_read_back_bit_exact_and_are_not_rewritten(tmp_path):
    folder = tmp_path / "set"
    loaded = masks.load_eval_masks(folder, 32, 3, seed=1)
    assert sorted(p.name for p in (folder / "thin").iterdir()) == [
        "0000.png",
        "0001.png",
        "0002.png",
    ]
    assert sorted(p.name for p in folder.iterdir()) == sorted(masks.PRESETS)  # no temporaries
    fresh = masks.make_mask_set(32, 3, seed=1)
    assert all(torch.equal(loaded[k], fresh[k]) for k in fresh)
    stamp = (folder / "thin/0000.png").stat().st_mtime_ns
    again = masks.load_eval_masks(folder, 32, 3, seed=1)
    assert all(torch.equal(loaded[k], again[k]) for k in fresh)
    assert (folder / "thin/0000.png").stat().st_mtime_ns == stamp  # read, not rewritten


def test_missing_presets_are_added_and_only_rank_zero_writes(tmp_path):
    folder = tmp_path / "set"
    part = masks.load_eval_masks(folder, 16, 2, presets=("thin",))
    full = masks.load_eval_masks(folder, 16, 2)  # adds the others, keeps thin
    assert torch.equal(part["thin"], full["thin"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(masks.PRESETS)
    other = tmp_path / "other"
    made = masks.load_eval_masks(other, 16, 2, write=False)
    assert not other.exists()
    assert all(torch.equal(made[k], full[k]) for k in full)


def test_a_preset_written_meanwhile_by_another_run_is_kept(tmp_path):
    folder = tmp_path / "set"
    masks.save_mask_set(masks.make_mask_set(16, 2, presets=("rect",)), folder)
    before = (folder / "rect/0000.png").stat().st_mtime_ns
    masks.save_mask_set(masks.make_mask_set(16, 2, presets=("rect",)), folder)
    assert (folder / "rect/0000.png").stat().st_mtime_ns == before
    assert sorted(p.name for p in folder.iterdir()) == ["rect"]


def bad_set(tmp_path, damage) -> tuple:
    """A written 16 px set of 2 masks per preset, then ``damage(thin folder)``."""
    folder = tmp_path / "set"
    masks.load_eval_masks(folder, 16, 2)
    damage(folder / "thin")
    return folder, folder / "thin"


def test_unusable_sets_are_refused_naming_the_file_and_the_fix(tmp_path):
    def grey(thin):
        Image.fromarray(np.full((16, 16), 100, np.uint8)).save(thin / "0001.png")

    def resized(thin):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(thin / "0001.png")

    def broken(thin):
        (thin / "0001.png").write_bytes(b"not a png")

    def extra(thin):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(thin / "0002.png")

    cases = {
        grey: "0001.png is not binary (grey values other than 0 and 255)",
        resized: "0001.png is 8x8, expected 16x16",
        broken: "cannot read eval mask",
        extra: "holds 3 masks, expected 2",
    }
    for i, (damage, message) in enumerate(cases.items()):
        folder, thin = bad_set(tmp_path / str(i), damage)
        for load in (masks.load_eval_masks, masks.read_eval_masks):
            with pytest.raises(masks.MaskError) as err:
                load(folder, 16, 2, setting="--masks")
            line = str(err.value)
            assert message in line and str(thin) in line, line
            assert f"delete {thin} to have it rewritten, or point --masks at" in line
            assert "\n" not in line
    with pytest.raises(masks.MaskError, match=r"0000\.png is 16x16, expected 32x32"):
        masks.load_eval_masks(tmp_path / "0/set", 32, 2, presets=("rect",))
    file = tmp_path / "file"
    file.write_text("a file")
    with pytest.raises(masks.MaskError, match=f"eval_masks {file} is a file"):
        masks.load_eval_masks(file, 16, 2)


def test_read_mask_thresholds_grey_and_names_unreadable_files(tmp_path):
    grey = np.array([[0, 127], [128, 255]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "m.png")
    assert masks.read_mask(tmp_path / "m.png").tolist() == [[False, False], [True, True]]
    with pytest.raises(masks.MaskError, match=r"mask .*nope\.png does not exist; check the path"):
        masks.read_mask(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(
        masks.MaskError, match=r"cannot read mask .*bad\.png \(UnidentifiedImageError\)"
    ):
        masks.read_mask(tmp_path / "bad.png")


def test_the_default_folder_is_under_the_run_directory(tmp_path):
    assert masks.eval_mask_folder(None, tmp_path) == tmp_path / "eval_masks"
    assert masks.eval_mask_folder("shared/m", tmp_path) == Path("shared/m")


# -- the command that writes a set: python -m an_lightning.cli.mask_set ------------------
def test_command_writes_a_set_and_refuses_a_full_folder(tmp_path, capsys):
    mask_set.main([str(tmp_path / "m"), "--size", "16", "--count", "2"])
    assert len(list((tmp_path / "m").rglob("*.png"))) == 4 * 2
    written = masks.load_eval_masks(tmp_path / "m", 16, 2, write=False)  # the run's set
    assert all(torch.equal(v, masks.make_mask_set(16, 2)[k]) for k, v in written.items())
    before = sorted((tmp_path / "m").rglob("*"))
    line = refuses(mask_set.main, [tmp_path / "m", "--size", "16", "--count", "2"], capsys)
    assert "is not empty; choose a new folder" in line
    assert sorted((tmp_path / "m").rglob("*")) == before


def test_command_default_count_is_the_tasks(tmp_path):
    from an_lightning.tasks import Inpainting

    default = inspect.signature(Inpainting).parameters["eval_mask_count"].default
    assert default == masks.DEFAULT_COUNT
    mask_set.main([str(tmp_path / "m"), "--size", "8"])
    assert len(list((tmp_path / "m/rect").glob("*.png"))) == default


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
    line = command_refuses("an_lightning.cli.mask_set", out, "--count", "-3", not_created=[out])
    assert "--count must be 1 or more, got -3" in line
