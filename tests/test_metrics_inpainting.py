"""PSNR / SSIM / MAE of composited outputs over a mask set."""

import math

import torch
from torch import nn

from an_lightning.metrics.inpainting import evaluate_inpainting, masks_for


class Constant(nn.Module):
    """A 'generator' that paints every hole mid-grey (0 in [-1, 1])."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, image, mask):
        grey = torch.zeros_like(image)
        return grey, grey


def data():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 3, 16, 16, generator=g) * 2 - 1
    masks = torch.zeros(3, 1, 16, 16)
    masks[0, :, 2:8, 2:8], masks[1, :, 8:16, :] = 1, 1
    masks[2, :, :, 0:4] = 1
    return images, masks


def test_scores_match_hand_computed_values():
    images, masks = data()
    scores = evaluate_inpainting(Constant(), images, {"box": masks}, batch_size=2)
    assert set(scores) == {"psnr/box", "ssim/box", "mae/box"}
    paired = masks_for(masks, 0, 5)  # image i with mask i mod 3
    assert torch.equal(paired[3], masks[0]) and torch.equal(paired[4], masks[1])
    truth = (images + 1) / 2
    error = (truth - 0.5) * paired  # grey in the hole, exact elsewhere
    assert math.isclose(scores["mae/box"], float(error.abs().mean()), rel_tol=1e-5)
    psnr = (10 * torch.log10(1 / (error**2).mean(dim=(1, 2, 3)))).mean()
    assert math.isclose(scores["psnr/box"], float(psnr), rel_tol=1e-5)
    assert 0 < scores["ssim/box"] < 1


def test_uint8_images_are_scaled_and_sizes_checked():
    images, masks = data()
    as_uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    scores = evaluate_inpainting(Constant(), as_uint8, {"box": masks})
    assert 0 < scores["mae/box"] < 0.5
    try:
        evaluate_inpainting(Constant(), images, {"box": masks[:, :, :8, :8]})
    except ValueError as err:
        assert "make the mask set at the image size" in str(err)
    else:
        raise AssertionError("a mask size mismatch must be refused")
