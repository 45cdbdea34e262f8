"""Image grids without torchvision (it has no CPU build matching our torch pin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_grid(images: torch.Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) images in [-1, 1] -> uint8 (rows*H', nrow*W', 3) grid, row-major."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
    canvas = torch.full((3, rows * (h + pad) + pad, nrow * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, top : top + h, left : left + w] = x[i, :3]
    return canvas.permute(1, 2, 0).numpy()


def save_png(grid: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 HWC array as PNG, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path
