"""The fixed evaluation masks: one seeded set per preset, stored as PNGs (white = missing).

Every model is scored on the same holes: ``<folder>/<preset>/<index>.png`` for the
presets ``rect``, ``thin``, ``medium`` and ``thick``. A set is a pure function of
(size, count, seed): ``ensure_mask_set`` writes it on first use and reads it back
afterwards, refusing a folder that holds masks of another size or count.

    python -m an_lightning.data.mask_set masks/eval256 --size 256 --count 200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..cli import preflight
from ..cli.errors import command_errors
from .masks import KINDS, MaskSpec

PRESETS = KINDS  # rect, thin, medium, thick


def make_mask_set(
    size: int, count: int, seed: int = 0, presets: tuple[str, ...] = PRESETS
) -> dict[str, torch.Tensor]:
    """{preset: (count, 1, size, size) float masks}; preset i uses seed + i on the CPU."""
    out = {}
    for i, preset in enumerate(presets):
        generator = torch.Generator().manual_seed(seed + i)
        out[preset] = MaskSpec(preset).sample(count, (size, size), generator)
    return out


def save_mask_set(masks: dict[str, torch.Tensor], folder: str | Path) -> Path:
    """Write ``<folder>/<preset>/<index:04d>.png``, 255 = missing."""
    folder = Path(folder)
    for preset, stack in masks.items():
        (folder / preset).mkdir(parents=True, exist_ok=True)
        for i, mask in enumerate(stack):
            pixels = (mask[0] > 0.5).numpy().astype(np.uint8) * 255
            Image.fromarray(pixels, mode="L").save(folder / preset / f"{i:04d}.png")
    return folder


def read_mask(path: str | Path) -> torch.Tensor:
    """One mask PNG -> (1, H, W) float, 1 where the pixel is white (>= 128)."""
    with Image.open(path) as image:
        grey = np.asarray(image.convert("L"))
    return torch.from_numpy(grey >= 128).float()[None]


def load_mask_set(folder: str | Path, presets: tuple[str, ...] = PRESETS) -> dict:
    """{preset: (N, 1, H, W)} from ``save_mask_set``'s layout."""
    folder = Path(folder)
    out = {}
    for preset in presets:
        files = sorted((folder / preset).glob("*.png"))
        if not files:
            raise FileNotFoundError(
                f"no masks in {folder / preset}; write the set with "
                f"python -m an_lightning.data.mask_set {folder} --size S --count N"
            )
        out[preset] = torch.stack([read_mask(f) for f in files])
    return out


def ensure_mask_set(
    folder: str | Path, size: int, count: int, seed: int = 0, presets: tuple[str, ...] = PRESETS
) -> dict[str, torch.Tensor]:
    """Load the set in ``folder``, writing it first if the folder holds none."""
    folder = Path(folder)
    if not any((folder / p).is_dir() for p in presets):
        save_mask_set(make_mask_set(size, count, seed, presets), folder)
    masks = load_mask_set(folder, presets)
    for preset, stack in masks.items():
        if tuple(stack.shape[1:]) != (1, size, size) or stack.shape[0] != count:
            raise ValueError(
                f"{folder / preset} holds {stack.shape[0]} masks of "
                f"{stack.shape[-2]}x{stack.shape[-1]}, expected {count} of {size}x{size}; "
                "point eval_masks at another folder or delete this one to rewrite it"
            )
    return masks


MIN_SIZE = 8  # smaller masks can come out without a hole


def check_args(folder: Path, size: int, count: int) -> None:
    """``ValueError`` for a set that would be degenerate or could not be written."""
    preflight.at_least(size, MIN_SIZE, "--size")
    preflight.at_least(count, 1, "--count")
    preflight.output_folder(folder, "mask folder")
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty; choose a new folder (or delete this one)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m an_lightning.data.mask_set", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("folder", type=Path, help="a new or empty folder")
    parser.add_argument("--size", type=int, default=256, help=f"mask side (>= {MIN_SIZE})")
    parser.add_argument("--count", type=int, default=200, help="masks per preset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with command_errors():
        check_args(args.folder, args.size, args.count)
    save_mask_set(make_mask_set(args.size, args.count, args.seed), args.folder)
    print(f"wrote {len(PRESETS)} x {args.count} masks of {args.size}x{args.size} to {args.folder}")


if __name__ == "__main__":
    main()
