"""Compositing and the local critic's window around each hole."""

import torch

from an_lightning.models.inpaint.patches import composite, crop, hole_boxes, patch_size


def test_composite_is_a_select():
    prediction, image = torch.full((1, 1, 2, 2), 0.25), torch.full((1, 1, 2, 2), -0.75)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.6]]]])  # > 0.5 is the hole
    out = composite(prediction, image, mask)
    assert out.flatten().tolist() == [0.25, -0.75, -0.75, 0.25]


def test_patch_size_is_half_the_image():
    assert patch_size(256, 256) == (128, 128)
    assert patch_size(64, 32) == (32, 16)


def test_hole_boxes_centre_the_window_inside_the_image():
    mask = torch.zeros(3, 1, 8, 8)
    mask[0, 0, 1:3, 5:7] = 1  # rows 1-2, cols 5-6: window clamped to the image
    mask[1, 0, 3:5, 2:6] = 1  # centred at (3.5, 3.5): window 4x4 at (2, 2)
    # sample 2: no hole, the window sits in the middle
    assert hole_boxes(mask).tolist() == [[0, 4], [2, 2], [2, 2]]


def test_crop_takes_each_samples_window_and_passes_gradients():
    images = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4).requires_grad_()
    boxes = torch.tensor([[0, 0], [2, 1]])
    patches = crop(images, boxes, (2, 2))
    assert patches.shape == (2, 1, 2, 2)
    assert patches[0, 0].tolist() == [[0.0, 1.0], [4.0, 5.0]]
    assert patches[1, 0].tolist() == [[25.0, 26.0], [29.0, 30.0]]
    patches.sum().backward()
    assert images.grad.sum().item() == 8 and images.grad[1, 0, 2, 1].item() == 1
