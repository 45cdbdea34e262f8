"""Inpainting hole masks: random training masks and the fixed evaluation set.

Masks are float (B, 1, H, W) with 1 = missing. Random masks take every random number
from the ``torch.Generator`` passed in (the task's per-rank generator), on the
generator's device, so masks are reproducible and resume with the run.

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

The fixed evaluation set scores every model on the same holes:
``<folder>/<preset>/<index:04d>.png`` (white = missing) for each preset above, preset i
of ``PRESETS`` drawn from seed + i on the CPU, so each preset is a pure function of
(size, count, seed). ``load_eval_masks`` is its one loader (the task's validation, the
evaluator): it reads and checks each preset folder, or makes the preset and writes it
on first use. ``read_mask`` reads one mask PNG (also the ``inpaint`` command's).
``python -m an_lightning.cli.mask_set`` writes a set ahead of time.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
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


def _polyline(
    generator: torch.Generator, size: tuple[int, int], radius: float
) -> list[tuple[float, float]]:
    """One stroke's vertices: random draws from ``generator``, geometry in Python floats
    (a dozen scalar steps; as tensor ops they cost more in dispatch than in arithmetic)."""
    h, w = size
    device = generator.device
    vertices = MIN_VERTICES + int(_randint(MAX_VERTICES - MIN_VERTICES, 1, generator))
    u = torch.rand(vertices + 2, generator=generator, device=device).tolist()
    normal = torch.randn(vertices, generator=generator, device=device).tolist()
    x, y = u[0] * w, u[1] * h
    points = [(x, y)]
    for k in range(vertices):
        turn = MEAN_ANGLE + (u[2 + k] * 2 - 1) * ANGLE_RANGE
        if k % 2:
            turn = 2 * math.pi - turn  # zig-zag, as released
        length = min(max(radius + radius / 2 * normal[k], 0.0), 2 * radius)
        # each vertex clipped into the image, as released
        x = min(max(x + length * math.cos(turn), 0.0), w - 1.0)
        y = min(max(y + length * math.sin(turn), 0.0), h - 1.0)
        points.append((x, y))
    return points


def stroke_masks(
    n: int, size: tuple[int, int], generator: torch.Generator, preset: StrokePreset
) -> Tensor:
    """Free-form brush strokes; one polyline set per sample, rendered as round-capped lines."""
    h, w = size
    device = generator.device
    scale = min(h, w) / REFERENCE_SIDE
    radius = math.hypot(h, w) / 8
    out = torch.zeros(n, 1, h, w, device=device)
    py = torch.arange(h, device=device, dtype=torch.float32)[:, None].expand(h, w)
    px = torch.arange(w, device=device, dtype=torch.float32)[None, :].expand(h, w)
    px, py = px.reshape(-1, 1), py.reshape(-1, 1)  # (HW, 1) pixel x and y
    spread = preset.max_width - preset.min_width
    for i in range(n):
        starts, ends, widths = [], [], []
        for _ in range(1 + int(_randint(MAX_STROKES - 1, 1, generator))):
            points = _polyline(generator, size, radius)
            u = float(torch.rand(1, generator=generator, device=device))
            width = (preset.min_width + u * spread) * scale
            starts += points[:-1]
            ends += points[1:]
            widths += [width] * (len(points) - 1)
        a, b = (torch.tensor(p, device=device) for p in (starts, ends))
        half = torch.tensor(widths, device=device) / 2
        inside = (_segment_distance(px, py, a, b) <= half * half).any(dim=1)
        flips = torch.rand(2, generator=generator, device=device).tolist()  # as released
        dims = [d for d, f in zip((-1, -2), flips, strict=True) if f < 0.5]
        out[i, 0] = inside.reshape(h, w).float().flip(dims) if dims else inside.reshape(h, w)
    return out


def _segment_distance(px: Tensor, py: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Squared distance of pixels (P, 1) x/y to each segment a[k]-b[k] (K, 2): (P, K).

    Separate x and y planes keep every op a plain 2-D broadcast (an (P, K, 2) layout ran
    ~20x slower on the CPU)."""
    ax, ay, dx, dy = a[:, 0], a[:, 1], b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).clamp_min(1e-12)
    t = t.clamp(0, 1)
    ex, ey = px - ax - t * dx, py - ay - t * dy
    return ex * ex + ey * ey


# -- the fixed evaluation set --------------------------------------------------------
PRESETS = KINDS  # rect, thin, medium, thick
DEFAULT_FOLDER = "eval_masks"  # under the run directory, when eval_masks is not set
DEFAULT_COUNT = 100  # masks per preset (the task's eval_mask_count)


class MaskError(ValueError):
    """A mask file or mask set that cannot be used, worded for the command line."""


def eval_mask_folder(eval_masks: str | Path | None, run_dir: str | Path) -> Path:
    """Where a run's fixed masks live: ``eval_masks`` if set, else ``<run dir>/eval_masks``."""
    return Path(eval_masks) if eval_masks else Path(run_dir) / DEFAULT_FOLDER


def make_mask_set(
    size: int, count: int, seed: int = 0, presets: tuple[str, ...] = PRESETS
) -> dict[str, Tensor]:
    """{preset: (count, 1, size, size) float masks}; preset i of ``PRESETS`` uses seed + i
    on the CPU, whichever presets are asked for."""
    out = {}
    for preset in presets:
        generator = torch.Generator().manual_seed(seed + PRESETS.index(preset))
        out[preset] = MaskSpec(preset).sample(count, (size, size), generator)
    return out


def save_mask_set(masks: dict[str, Tensor], folder: str | Path) -> Path:
    """Write ``<folder>/<preset>/<index:04d>.png``, 255 = missing.

    Each preset is written to a temporary folder and renamed into place, so a run that
    shares the folder sees a preset whole or not at all; a preset already there (written
    meanwhile by another run, from the same seed) is kept.
    """
    folder = Path(folder)
    for preset, stack in masks.items():
        tmp = folder / f".{preset}.tmp{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for i, mask in enumerate(stack):
            pixels = (mask[0] > 0.5).cpu().numpy().astype(np.uint8) * 255
            Image.fromarray(pixels, mode="L").save(tmp / f"{i:04d}.png")
        try:
            tmp.rename(folder / preset)
        except OSError:
            if not (folder / preset).is_dir():
                raise
            shutil.rmtree(tmp)
    return folder


def read_grey(path: str | Path, what: str = "mask", fix: str | None = None) -> np.ndarray:
    """The grey values (H, W) uint8 of one mask image; ``MaskError`` naming ``path`` if it
    is missing or unreadable (``fix`` replaces the default advice)."""
    path = Path(path)
    if not path.is_file():
        raise MaskError(f"{what} {path} does not exist; {fix or 'check the path'}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except Exception as err:
        advice = fix or "give a PNG file, white where pixels are missing"
        raise MaskError(f"cannot read {what} {path} ({type(err).__name__}); {advice}") from None


def read_mask(path: str | Path, what: str = "mask") -> np.ndarray:
    """One mask image as bool (H, W), True where white (grey >= 128) = missing."""
    return read_grey(path, what) >= 128


def read_preset(folder: Path, size: int, count: int, setting: str = "eval_masks") -> Tensor:
    """(count, 1, size, size) masks of one preset folder, checked: ``count`` readable,
    binary PNGs of ``size`` x ``size``, else ``MaskError`` naming the file and the fix."""
    fix = f"delete {folder} to have it rewritten, or point {setting} at another folder"
    files = sorted(folder.glob("*.png"))
    if len(files) != count:
        raise MaskError(f"{folder} holds {len(files)} masks, expected {count}; {fix}")
    stack = []
    for path in files:
        grey = read_grey(path, "eval mask", fix)
        if not np.isin(grey, (0, 255)).all():  # written binary: edited or resampled since
            raise MaskError(
                f"eval mask {path} is not binary (grey values other than 0 and 255); {fix}"
            )
        if grey.shape != (size, size):
            raise MaskError(
                f"eval mask {path} is {grey.shape[1]}x{grey.shape[0]}, expected "
                f"{size}x{size}; {fix}"
            )
        stack.append(torch.from_numpy(grey >= 128))
    return torch.stack(stack).float()[:, None]


def read_eval_masks(
    folder: str | Path,
    size: int,
    count: int,
    presets: tuple[str, ...] = PRESETS,
    setting: str = "eval_masks",
) -> dict[str, Tensor]:
    """The presets already in ``folder``, each checked (``read_preset``); ``MaskError``
    if one cannot be used. Presets not there yet are left out."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MaskError(f"{setting} {folder} is a file; pass the mask set's folder")
    return {
        p: read_preset(folder / p, size, count, setting) for p in presets if (folder / p).is_dir()
    }


def load_eval_masks(
    folder: str | Path,
    size: int,
    count: int,
    seed: int = 0,
    presets: tuple[str, ...] = PRESETS,
    *,
    write: bool = True,
    setting: str = "eval_masks",
) -> dict[str, Tensor]:
    """{preset: (count, 1, size, size)}: the fixed set in ``folder``.

    A preset already there is read and checked (``read_eval_masks``); one that is not is
    made from ``seed`` and, with ``write``, saved. Everyone who makes a preset makes the
    same masks, so a rank that does not write needs no other rank's files. ``setting``
    names the option that chose ``folder``, for the fix in error messages.
    """
    present = read_eval_masks(folder, size, count, presets, setting)
    made = make_mask_set(size, count, seed, tuple(p for p in presets if p not in present))
    if write and made:
        save_mask_set(made, folder)
    return {p: present[p] if p in present else made[p] for p in presets}
