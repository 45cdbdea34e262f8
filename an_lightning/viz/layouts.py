"""Pictures of AN's learned layouts (the supplementary's Figures 4 and 5).

An AN layer keeps its last soft layout S (B, n, h, w): a softmax over n entities per
pixel. The *binarised* layout colours each pixel by its argmax entity; the *soft* maps
show each entity's S upsampled over the image. Both come from any layer in G or D.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import ColorMap, ColorMapType, apply_colormap
from torch import Tensor, nn

from ..latents import draw_latents
from ..norms import layouts
from .grid import make_grid


def entity_colours(n: int) -> Tensor:
    """(n, 3) distinct colours in [0, 1]: turbo, visited with a stride so neighbours differ."""
    colours = ColorMap(ColorMapType.turbo, num_colors=max(n, 2)).colors.T[:n]
    stride = next(s for s in (5, 7, 3, 11, 13, 1) if np.gcd(s, n) == 1)
    return colours[(torch.arange(n) * stride) % n]


def binarised(layout: Tensor, size: int) -> Tensor:
    """(B, n, h, w) soft layout -> (B, 3, size, size) argmax colours in [-1, 1]."""
    colours = entity_colours(layout.shape[1]).to(layout.device)
    picture = colours[layout.argmax(1)].permute(0, 3, 1, 2)  # (B, 3, h, w)
    return F.interpolate(picture, size=(size, size), mode="nearest") * 2 - 1


def soft_maps(layout: Tensor, size: int) -> Tensor:
    """(B, n, h, w) -> (B, n, 3, size, size): each entity's map, bilinear, colour-mapped.

    Each map is scaled by its own maximum: with n entities most weights sit near 1/n,
    and a fixed 0..1 scale shows n nearly uniform dark maps.
    """
    b, n = layout.shape[:2]
    up = F.interpolate(layout.float(), size=(size, size), mode="bilinear", align_corners=False)
    up = up / up.amax(dim=(2, 3), keepdim=True).clamp_min(1e-8)
    grey = (up.clamp(0, 1) * 255).round().to(torch.uint8)  # integer input: fixed 0..255 scale
    heat = apply_colormap(grey.cpu(), ColorMap(ColorMapType.viridis, num_colors=256))
    return heat.view(b, n, 3, size, size).to(layout.device) * 2 - 1


def layout_panels(images: Tensor, layout: Tensor, alpha: float = 0.5) -> dict[str, np.ndarray]:
    """Grids for one layer: ``binary`` rows [image, layout, overlay]; ``soft`` rows
    [image, entity 1 ... n over the image]."""
    size = images.shape[-1]
    images = images.float()
    hard = binarised(layout, size).to(images.device)
    binary = torch.stack([images, hard, (1 - alpha) * images + alpha * hard], 1)
    maps = soft_maps(layout, size).to(images.device)
    soft = torch.cat([images[:, None], (1 - alpha) * images[:, None] + alpha * maps], 1)
    return {
        "binary": make_grid(binary.flatten(0, 1), 3),
        "soft": make_grid(soft.flatten(0, 1), layout.shape[1] + 1),
    }


@contextmanager
def _keeping_layouts(*nets: nn.Module):
    norms = [m for net in nets for m in net.modules() if hasattr(m, "keep_layout")]
    before = [m.keep_layout for m in norms]
    for m in norms:
        m.keep_layout = True
    try:
        yield
    finally:
        for m, keep in zip(norms, before, strict=True):
            m.keep_layout = keep


@torch.no_grad()
def network_layouts(
    generator: nn.Module, z: Tensor, y: Tensor, discriminator: nn.Module | None = None
) -> tuple[Tensor, dict[str, Tensor]]:
    """(images G(z, y), {"G.<layer>" / "D.<layer>": soft layout}) from one pass in eval mode.

    D sees the generated images, so its layouts describe the same pictures.
    """
    nets = [generator] + ([discriminator] if discriminator is not None else [])
    modes = [net.training for net in nets]
    try:
        with _keeping_layouts(*nets):
            for net in nets:
                net.eval()
            images = generator(z, y)
            found = {f"G.{k}": v for k, v in layouts(generator).items()}
            if discriminator is not None:
                discriminator(images, y)
                found |= {f"D.{k}": v for k, v in layouts(discriminator).items()}
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)
    return images, found


def task_layouts(
    task: nn.Module,
    classes: list[int],
    per_class: int,
    seed: int,
    raw: bool = False,
    truncation: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``network_layouts`` of a class-conditional GAN task (its EMA generator, or G itself
    when ``raw``, and its D) for ``per_class`` images of each of ``classes`` at latents
    seeded by ``seed`` (``truncation``: ``an_lightning.latents``): the same pictures for the
    ``layouts`` command and during training."""
    k = task.num_classes
    bad = [c for c in classes if not 0 <= c < k]
    if bad:
        raise ValueError(
            f"classes {bad} outside [0, {k}): the model has {k} classes; pick ids 0..{k - 1}"
        )
    g = task.generator if raw else task.g_ema.module
    device = next(g.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    z = draw_latents(len(classes) * per_class, g.z_dim, rng, truncation)
    y = torch.tensor(classes).repeat_interleave(per_class)
    return network_layouts(g, z.to(device), y.to(device), task.discriminator)
