"""Yu et al.'s global and local critics, compositing and the local window."""

import pytest
import torch

from an_lightning.models import GlobalLocalCritic
from an_lightning.models.inpaint import composite, crop, hole_boxes


def box_mask(side: int, top: int, left: int, h: int, w: int, batch: int = 1) -> torch.Tensor:
    mask = torch.zeros(batch, 1, side, side)
    mask[:, :, top : top + h, left : left + w] = 1
    return mask


def test_critic_layers_follow_yu_et_al():
    critics = GlobalLocalCritic(image_size=64)
    convs = [m for m in critics.global_critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (c, (5, 5), (2, 2)) for c in (64, 128, 256, 256)
    ]
    local = [m.out_channels for m in critics.local_critic.modules() if hasattr(m, "stride")]
    assert local == [64, 128, 256, 512]
    images = torch.rand(3, 3, 64, 64)
    g, loc = critics(images, box_mask(64, 10, 20, 24, 30, batch=3))
    assert g.shape == loc.shape == (3,)


def test_critic_refuses_other_sizes():
    with pytest.raises(ValueError, match="divisible"):
        GlobalLocalCritic(image_size=40)
    critics = GlobalLocalCritic(image_size=64, width=0.25)
    with pytest.raises(ValueError, match="built for"):
        critics.global_critic(torch.rand(1, 3, 32, 32))


def test_local_window_is_the_rectangle_bounding_box():
    # A 32 px box at (8, 20) of a 64 px image, hole shrunk by 3 px on each side.
    mask = box_mask(64, 8 + 3, 20 + 3, 32 - 6, 32 - 6)
    assert hole_boxes(mask).tolist() == [[8, 20]]


def test_local_window_is_centred_on_the_hole_and_stays_inside():
    corner = box_mask(64, 0, 60, 2, 4)  # a hole at the top-right corner
    assert hole_boxes(corner).tolist() == [[0, 32]]
    empty = torch.zeros(1, 1, 64, 64)
    assert hole_boxes(empty).tolist() == [[16, 16]]
    wide = box_mask(64, 30, 0, 4, 64)  # wider than the window: its centre
    assert hole_boxes(wide).tolist() == [[16, 16]]


def test_crop_takes_each_sample_at_its_box_and_passes_gradients():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float).view(2, 3, 8, 8).requires_grad_()
    patches = crop(images, torch.tensor([[0, 4], [4, 0]]), (4, 4))
    assert torch.equal(patches[0], images[0, :, 0:4, 4:8])
    assert torch.equal(patches[1], images[1, :, 4:8, 0:4])
    patches.sum().backward()
    assert images.grad.sum() == 2 * 3 * 16


def test_composite_keeps_known_pixels_bit_exact():
    g = torch.Generator().manual_seed(1)
    image = torch.randn(4, 3, 16, 16, generator=g)
    prediction = torch.randn(4, 3, 16, 16, generator=g)
    prediction[:, :, :2] = float("nan")  # even a broken prediction cannot touch known pixels
    mask = (torch.rand(4, 1, 16, 16, generator=g) > 0.5).float()
    mask[:, :, :2] = 0
    out = composite(prediction, image, mask)
    known = (mask == 0).expand_as(image)
    assert torch.equal(out[known], image[known])
    assert torch.equal(out[~known], prediction[~known])


def test_score_with_patches_returns_the_crops_it_scored():
    torch.manual_seed(0)
    critics = GlobalLocalCritic(image_size=64, width=0.25)
    images = torch.rand(2, 3, 64, 64)
    mask = torch.cat([box_mask(64, 0, 60, 2, 4), box_mask(64, 10, 20, 24, 30)])
    g, loc, patches = critics.score_with_patches(images, mask)
    assert torch.equal(patches, crop(images, hole_boxes(mask), (32, 32)))
    assert torch.equal(patches[0], images[0, :, 0:32, 32:64])
    assert torch.equal(loc, critics.local_critic(patches))
    assert torch.equal(g, critics.global_critic(images))
    forward = critics(images, mask)
    assert torch.equal(forward[0], g) and torch.equal(forward[1], loc)
