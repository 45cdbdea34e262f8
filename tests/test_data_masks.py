"""Random hole masks: the promised sizes, scaling with the image, reproducibility."""

import pytest
import torch

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
