"""Compositing and the local critic's patch: the glue between masks and networks.

The local patch is a fixed-size window (half the image side, Yu et al.'s 128 of 256)
centred on the bounding box of each sample's hole, shifted to lie inside the image.
For the rectangular masks this is exactly Yu et al.'s bounding box (the hole shrinks
symmetrically inside it); for free-form strokes it is the window around the strokes'
bounding-box centre, which may cut off the ends of long strokes.
"""

from __future__ import annotations

import torch
from torch import Tensor


def composite(prediction: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """Prediction inside the hole (mask 1), ``image`` outside, bit-exact (a select, no blend)."""
    return torch.where(mask > 0.5, prediction, image)


def patch_size(height: int, width: int) -> tuple[int, int]:
    """The local critic's input size for images of ``height`` x ``width``."""
    return height // 2, width // 2


def hole_boxes(mask: Tensor) -> Tensor:
    """(B, 2) top-left corners of each hole's local window; mask (B, 1, H, W), 1 = missing."""
    h, w = mask.shape[2:]
    ph, pw = patch_size(h, w)
    hole = mask[:, 0] > 0.5
    rows, cols = hole.any(dim=2), hole.any(dim=1)  # (B, H), (B, W)

    def centre(occupied: Tensor, size: int) -> Tensor:
        idx = torch.arange(size, device=mask.device)
        first = torch.where(occupied, idx, size).amin(dim=1)
        last = torch.where(occupied, idx, -1).amax(dim=1)
        empty = ~occupied.any(dim=1)  # no hole: the window sits in the middle
        return torch.where(empty, size - 1, first + last)  # twice the centre

    top = ((centre(rows, h) + 1 - ph) // 2).clamp(0, h - ph)
    left = ((centre(cols, w) + 1 - pw) // 2).clamp(0, w - pw)
    return torch.stack([top, left], dim=1)


def crop(images: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Per-sample crops of ``size`` at ``boxes`` (B, 2): differentiable (gradient penalty)."""
    ph, pw = size
    corners = boxes.tolist()
    pairs = zip(images, corners, strict=True)
    return torch.stack([x[:, top : top + ph, left : left + pw] for x, (top, left) in pairs])
