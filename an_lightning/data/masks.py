"""Random hole masks for inpainting: rectangles and free-form brush strokes.

Masks are float (B, 1, H, W) with 1 = missing. Every random number comes from the
``torch.Generator`` passed in (the task's per-rank generator), on the generator's
device, so masks are reproducible and resume with the run.

* ``rect`` (Yu et al. 2018's released ``random_bbox`` / ``bbox2mask``): a box of
  ``hole`` x the image side (128 of 256) at a uniformly random place; the hole shrinks
  from each side by a random 0 ... ``max_shrink`` / 2 of the side, so it is up to 32 px
  smaller at 256 px (96 ... 128 px per axis).
* ``thin`` / ``medium`` / ``thick`` free-form strokes (Yu et al. 2019's released
  ``brush_stroke_mask``): 1-3 polylines of 4-12 vertices with alternating turn
  angles around 2pi/5, segment lengths ~ N(r, r/2) clipped to [0, 2r] with r = the
  image diagonal / 8, drawn with round caps at a random width. ``medium`` uses the
  released widths (12-40 px at 256 px); the other presets narrow or widen the range.
  Widths scale with the image side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

REFERENCE_SIDE = 256  # widths and the rectangle's shrink are defined at this size


@dataclass(frozen=True)
class StrokePreset:
    """Brush width range (pixels at 256 px) of one free-form preset."""

    min_width: float
    max_width: float


STROKES: dict[str, StrokePreset] = {
    "thin": StrokePreset(5, 15),
    "medium": StrokePreset(12, 40),  # the released defaults
    "thick": StrokePreset(30, 60),
}
KINDS = ("rect", *STROKES)
MIN_VERTICES, MAX_VERTICES, MAX_STROKES = 4, 12, 3
MEAN_ANGLE, ANGLE_RANGE = 2 * math.pi / 5, 2 * math.pi / 15


@dataclass
class MaskSpec:
    """Which masks a task trains on.

    Args:
        kind: ``rect`` or a stroke preset (``thin``, ``medium``, ``thick``).
        hole: rectangle side as a fraction of the image side (0.5: 128 of 256).
        max_shrink: the rectangle hole is up to this fraction of the side smaller
            (0.125: 32 of 256).
    """

    kind: str = "rect"
    hole: float = 0.5
    max_shrink: float = 0.125

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown mask kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not 0 < self.hole <= 1 or not 0 <= self.max_shrink < self.hole:
            raise ValueError(
                f"need 0 < hole <= 1 and 0 <= max_shrink < hole, got {self.hole}, {self.max_shrink}"
            )

    def sample(self, n: int, size: tuple[int, int], generator: torch.Generator) -> Tensor:
        """n masks (n, 1, H, W) on the generator's device."""
        if self.kind == "rect":
            return rect_masks(n, size, generator, self.hole, self.max_shrink)
        return stroke_masks(n, size, generator, STROKES[self.kind])


def _randint(high: Tensor | int, n: int, generator: torch.Generator) -> Tensor:
    """Uniform integers in [0, high] (inclusive), elementwise for a tensor ``high``."""
    u = torch.rand(n, generator=generator, device=generator.device)
    return (u * (torch.as_tensor(high, device=u.device) + 1)).long()


def rect_masks(
    n: int, size: tuple[int, int], generator: torch.Generator, hole: float, max_shrink: float
) -> Tensor:
    """Yu et al.'s rectangular holes, scaled to ``size``."""
    h, w = size
    bh, bw = round(h * hole), round(w * hole)
    top, left = _randint(h - bh, n, generator), _randint(w - bw, n, generator)
    dh = _randint(round(h * max_shrink) // 2, n, generator)
    dw = _randint(round(w * max_shrink) // 2, n, generator)
    rows = torch.arange(h, device=top.device)[None, :]
    cols = torch.arange(w, device=top.device)[None, :]
    in_rows = (rows >= (top + dh)[:, None]) & (rows < (top + bh - dh)[:, None])
    in_cols = (cols >= (left + dw)[:, None]) & (cols < (left + bw - dw)[:, None])
    return (in_rows[:, :, None] & in_cols[:, None, :]).float()[:, None]


def stroke_masks(
    n: int, size: tuple[int, int], generator: torch.Generator, preset: StrokePreset
) -> Tensor:
    """Free-form brush strokes; one polyline set per sample, rendered as round-capped lines."""
    h, w = size
    device = generator.device
    scale = min(h, w) / REFERENCE_SIDE
    radius = math.hypot(h, w) / 8
    out = torch.zeros(n, 1, h, w, device=device)
    ys = torch.arange(h, device=device, dtype=torch.float32)[:, None].expand(h, w)
    xs = torch.arange(w, device=device, dtype=torch.float32)[None, :].expand(h, w)
    pixels = torch.stack([xs, ys], dim=-1).reshape(-1, 1, 2)  # (HW, 1, 2) as (x, y)

    def uniform(k: int) -> Tensor:
        return torch.rand(k, generator=generator, device=device)

    for i in range(n):
        strokes = 1 + int(_randint(MAX_STROKES - 1, 1, generator))
        for _ in range(strokes):
            vertices = MIN_VERTICES + int(_randint(MAX_VERTICES - MIN_VERTICES, 1, generator))
            turns = MEAN_ANGLE + (uniform(vertices) * 2 - 1) * ANGLE_RANGE
            turns[1::2] = 2 * math.pi - turns[1::2]  # zig-zag, as released
            lengths = (
                radius + radius / 2 * torch.randn(vertices, generator=generator, device=device)
            ).clamp(0, 2 * radius)
            steps = torch.stack([torch.cos(turns), torch.sin(turns)], dim=1) * lengths[:, None]
            start = uniform(2) * torch.tensor([w, h], device=device)
            points = [start]
            for step in steps:  # each vertex clipped into the image, as released
                nxt = points[-1] + step
                points.append(torch.stack([nxt[0].clamp(0, w - 1), nxt[1].clamp(0, h - 1)]))
            width = (preset.min_width + uniform(1) * (preset.max_width - preset.min_width)) * scale
            polyline = torch.stack(points)
            near = _segment_distance(pixels, polyline[:-1], polyline[1:]).amin(dim=1)
            out[i, 0] += (near <= width / 2).reshape(h, w).float()
        if bool(uniform(1) < 0.5):  # random flips, as released
            out[i] = out[i].flip(-1)
        if bool(uniform(1) < 0.5):
            out[i] = out[i].flip(-2)
    return out.clamp_(max=1.0)


def _segment_distance(points: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distance of each of ``points`` (P, 1, 2) to each segment a[k]-b[k] (K, 2): (P, K)."""
    ab = b - a
    t = ((points - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)
    nearest = a + t.clamp(0, 1)[..., None] * ab
    return (points - nearest).norm(dim=-1)
