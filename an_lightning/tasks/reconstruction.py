"""The inpainting reconstruction loss: L1, optionally spatially discounted inside the hole."""

from __future__ import annotations

import torch
from kornia.contrib import distance_transform
from torch import Tensor


def discount_weights(mask: Tensor, gamma: float | None) -> Tensor:
    """Per-pixel L1 weights: 1 on known pixels, gamma ** (distance to the nearest known
    pixel) inside the hole (Yu et al. 2018's spatial discount). The distance is kornia's
    ``distance_transform``: an approximation of the Euclidean distance in pixels of the
    training image (a hole pixel next to a known one gets about 0.83, not 1) that grows
    with depth into the hole. ``gamma`` None: 1 everywhere (the AN paper's plain L1)."""
    if gamma is None:
        return torch.ones_like(mask)
    distance = distance_transform((1 - mask).float())
    return torch.pow(gamma, distance).to(mask.dtype)


def weighted_l1(prediction: Tensor, target: Tensor, weights: Tensor) -> Tensor:
    """Mean over pixels and channels of weights * |prediction - target|."""
    return (weights * (prediction - target).abs()).mean()
