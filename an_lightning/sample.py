"""Sample a class-conditional checkpoint: ``python -m an_lightning.sample CKPT --out DIR``.

Writes, from the EMA generator (``--raw``: G itself), untruncated unless ``--truncation``:
- ``class_<c>.png``: ``--per-class`` samples of each class in ``--classes``, and
  ``classes.png`` with one row per class at the same latents (columns share z);
- ``random.png``: ``--random`` samples of uniformly drawn classes;
- ``interpolation.png``: one row per consecutive pair of ``--classes``, the class
  weights moving from the first to the second at a fixed z (the supplementary's Figure 9).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cli import generator_args
from .cli.errors import CommandParser
from .latents import draw_latents
from .viz import make_grid, save_png

if TYPE_CHECKING:
    from .tasks import ClassConditionalGAN

FIRST_CLASSES = 10  # the default --classes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CommandParser(prog="python -m an_lightning.sample", description=__doc__)
    generator_args.add_input_args(p, per_class=8, classes_help="default: the first ten classes")
    p.add_argument("--random", type=int, default=64, help="random-class samples (0: none)")
    p.add_argument("--steps", type=int, default=8, help="columns of each interpolation row")
    generator_args.add_generator_args(p, raw_help="sample G itself instead of its EMA")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> Path:
    """The checkpoint file, once every argument is known to be usable (nothing written)."""
    return generator_args.check_args(args, {"--random": 0, "--steps": 2})


@torch.no_grad()
def class_rows(
    g: nn.Module,
    classes: list[int],
    cols: int,
    rng: torch.Generator,
    truncation: float | None = None,
) -> Tensor:
    """(len(classes) * cols) images, row r of class r; column j uses the same z in every row."""
    z = draw_latents(cols, g.z_dim, rng, truncation).repeat(len(classes), 1)
    y = torch.tensor(classes).repeat_interleave(cols)
    return _run(g, z, y)


@torch.no_grad()
def random_samples(
    g: nn.Module, n: int, num_classes: int, rng: torch.Generator, truncation: float | None = None
) -> Tensor:
    z = draw_latents(n, g.z_dim, rng, truncation)
    return _run(g, z, torch.randint(num_classes, (n,), generator=rng))


@torch.no_grad()
def interpolation_rows(
    g: nn.Module,
    pairs: list[tuple[int, int]],
    steps: int,
    num_classes: int,
    rng: torch.Generator,
    truncation: float | None = None,
) -> Tensor:
    """One row per (a, b): class weights (1 - t) e_a + t e_b, t = 0 ... 1, z fixed per row."""
    z = draw_latents(len(pairs), g.z_dim, rng, truncation).repeat_interleave(steps, 0)
    t = torch.linspace(0, 1, steps).repeat(len(pairs))[:, None]
    a = torch.tensor([p[0] for p in pairs]).repeat_interleave(steps)
    b = torch.tensor([p[1] for p in pairs]).repeat_interleave(steps)
    weights = (1 - t) * F.one_hot(a, num_classes) + t * F.one_hot(b, num_classes)
    return _run(g, z, weights)


def _run(g: nn.Module, z: Tensor, y: Tensor, batch: int = 64) -> Tensor:
    device = next(g.parameters()).device
    chunks = zip(z.split(batch), y.split(batch), strict=True)
    return torch.cat([g(zc.to(device), yc.to(device)).cpu() for zc, yc in chunks])


def write_samples(task: ClassConditionalGAN, args: argparse.Namespace) -> list[Path]:
    """All pictures of the module doc; returns their paths."""
    k = task.num_classes
    classes = generator_args.chosen_classes(args, k, FIRST_CLASSES)
    g = generator_args.chosen_generator(task, args).eval().to(args.device)
    rng = torch.Generator().manual_seed(args.seed)
    cols = args.per_class
    cut = args.truncation
    rows = class_rows(g, classes, cols, rng, cut)
    paths = [save_png(make_grid(rows, cols), args.out / "classes.png")]
    for r, c in enumerate(classes):
        chunk = rows[r * cols : (r + 1) * cols]
        paths.append(save_png(make_grid(chunk, cols), args.out / f"class_{c:04d}.png"))
    if args.random:
        images = random_samples(g, args.random, k, rng, cut)
        paths.append(save_png(make_grid(images, 8), args.out / "random.png"))
    pairs = list(itertools.pairwise(classes))
    if pairs:
        images = interpolation_rows(g, pairs, args.steps, k, rng, cut)
        paths.append(save_png(make_grid(images, args.steps), args.out / "interpolation.png"))
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return generator_args.run(args, check_args, write_samples)


if __name__ == "__main__":
    main()
