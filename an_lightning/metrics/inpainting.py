"""PSNR, SSIM and MAE of inpainted images over a fixed mask set (torchmetrics).

Scores are of the composited output (generated pixels inside the hole, the input's
outside) against the ground truth, on images scaled to [0, 1]: PSNR is averaged per
image, SSIM is torchmetrics' default Gaussian 11x11 SSIM, MAE the mean absolute error
per pixel and channel. The paper reports these three on Paris StreetView.
Image i is paired with mask i mod M of each preset, so two models scored on the same
images and mask set see the same holes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from ..models.inpaint import composite
from .frechet import FeatureMoments, frechet_distance

METRICS = ("psnr", "ssim", "mae")


class InpaintingScores(nn.Module):
    """Accumulators of PSNR / SSIM / MAE for one mask preset; images in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.mae = MeanAbsoluteError()

    def update(self, output: Tensor, target: Tensor) -> None:
        out, ref = (output.float().clamp(-1, 1) + 1) / 2, (target.float() + 1) / 2
        for name in METRICS:
            getattr(self, name).update(out, ref)

    def compute(self) -> dict[str, float]:
        return {name: float(getattr(self, name).compute()) for name in METRICS}

    def reset(self) -> None:
        for name in METRICS:
            getattr(self, name).reset()


def masks_for(mask_set: Tensor, start: int, count: int) -> Tensor:
    """Masks start ... start + count - 1 of a set, cycling: the fixed image-mask pairing."""
    idx = torch.arange(start, start + count) % mask_set.shape[0]
    return mask_set[idx]


@torch.no_grad()
def complete(generator: nn.Module, images: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """(coarse, composited final) of ``generator(images, masks)``."""
    coarse, final = generator(images, masks)
    return coarse, composite(final, images, masks)


@torch.no_grad()
def evaluate_inpainting(
    generator: nn.Module,
    images: Tensor,
    masks: Mapping[str, Tensor],
    batch_size: int = 16,
    device: torch.device | str | None = None,
    features: nn.Module | None = None,
) -> dict[str, float]:
    """Scores of ``generator`` on ``images`` with each preset of ``masks``.

    Args:
        generator: ``generator(image, mask) -> (coarse, final)`` (``InpaintGenerator``),
            put in eval mode here.
        images: (N, 3, H, W) ground truth, float in [-1, 1] (or uint8, scaled here).
        masks: {preset: (M, 1, H, W) masks, 1 = missing}, e.g. ``data.masks.load_eval_masks``.
        device: where to run (default: the generator's device).
        features: an ``InceptionFeatures``; if given, also the FID between the filled
            images and the same images unfilled (0 for a perfect fill), from the same
            generator pass.

    Returns ``{"psnr/<preset>": ..., "ssim/<preset>": ..., "mae/<preset>": ...}`` (and
    ``"fid/<preset>"`` with ``features``).
    """
    if images.dtype == torch.uint8:
        images = images.float() / 127.5 - 1
    if device is None:
        device = next(generator.parameters()).device
    generator = generator.eval()
    batches = range(0, images.shape[0], batch_size)
    reference = None
    if features is not None:
        real = FeatureMoments(features.num_features)
        for start in batches:
            real.update(features(images[start : start + batch_size])["pool"].cpu())
        reference = real.compute()
    results = {}
    for preset, stack in masks.items():
        if stack.shape[-2:] != images.shape[-2:]:
            raise ValueError(
                f"{preset} masks are {tuple(stack.shape[-2:])} but images "
                f"{tuple(images.shape[-2:])}; make the mask set at the image size"
            )
        scores = InpaintingScores().to(device)
        filled = FeatureMoments(features.num_features) if features is not None else None
        for start in batches:
            x = images[start : start + batch_size].to(device)
            m = masks_for(stack, start, x.shape[0]).to(device)
            final = complete(generator, x, m)[1]
            scores.update(final, x)
            if filled is not None:
                filled.update(features(final)["pool"].cpu())
        results.update({f"{k}/{preset}": v for k, v in scores.compute().items()})
        if filled is not None:
            results[f"fid/{preset}"] = frechet_distance(filled.compute(), reference)
    return results
