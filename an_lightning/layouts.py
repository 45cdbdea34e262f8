"""Learned-layout pictures: ``python -m an_lightning.layouts CKPT --out DIR``.

For generated images (EMA generator, ``--per-class`` images of each of ``--classes``),
every AN layer of G and D (D sees the generated images) gets
``<layer>_binary.png`` (rows: image, argmax entity per pixel in one colour per
entity, overlay) and ``<layer>_soft.png`` (rows: image, then each entity's soft map
upsampled over it): the supplementary's Figures 4 and 5. ``--layers`` picks some.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cli import generator_args
from .cli.errors import CommandParser
from .viz import save_png
from .viz.layouts import layout_panels, task_layouts

if TYPE_CHECKING:
    from .tasks import ClassConditionalGAN

FIRST_CLASSES = 4  # the default --classes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CommandParser(prog="python -m an_lightning.layouts", description=__doc__)
    generator_args.add_input_args(p, per_class=2, classes_help="default: the first four classes")
    p.add_argument("--layers", nargs="+", help="layer names as listed by --list (default: all)")
    p.add_argument("--list", action="store_true", help="print the layers that have layouts")
    generator_args.add_generator_args(p, raw_help="use G itself instead of its EMA")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> Path:
    """The checkpoint file, once every argument is known to be usable (nothing written)."""
    return generator_args.check_args(args, writes=not args.list)  # --list writes nothing


def write_layouts(task: ClassConditionalGAN, args: argparse.Namespace) -> list[Path]:
    classes = generator_args.chosen_classes(args, task.num_classes, FIRST_CLASSES)
    task.to(args.device)
    images, found = task_layouts(
        task, classes, args.per_class, args.seed, args.raw, args.truncation
    )
    if not found:
        raise ValueError("this model has no layer with a learned layout (no AN layer in G or D)")
    if args.list:
        for name, layout in found.items():
            print(f"{name}: {layout.shape[1]} entities at {layout.shape[2]}x{layout.shape[3]}")
        return []
    chosen = args.layers or list(found)
    missing = sorted(set(chosen) - set(found))
    if missing:
        raise ValueError(f"no layout in layers {missing}; layers with one: {sorted(found)}")
    paths = []
    for name in chosen:
        for kind, grid in layout_panels(images, found[name]).items():
            paths.append(save_png(grid, args.out / f"{name}_{kind}.png"))
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return generator_args.run(args, check_args, write_layouts)


if __name__ == "__main__":
    main()
