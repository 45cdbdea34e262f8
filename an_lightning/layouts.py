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

import torch

from .cli import preflight
from .cli.errors import command_errors
from .viz import save_png
from .viz.layouts import layout_panels, network_layouts

if TYPE_CHECKING:
    from .tasks import ClassConditionalGAN


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m an_lightning.layouts", description=__doc__)
    p.add_argument("checkpoint", help="a run directory (its last.ckpt) or a .ckpt file")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--classes", type=int, nargs="+", help="default: the first four classes")
    p.add_argument("--per-class", type=int, default=2)
    p.add_argument("--layers", nargs="+", help="layer names as listed by --list (default: all)")
    p.add_argument("--list", action="store_true", help="print the layers that have layouts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--raw", action="store_true", help="use G itself instead of its EMA")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> Path:
    """The checkpoint file, once every argument is known to be usable (nothing written)."""
    preflight.at_least(args.per_class, 1, "--per-class")
    negative = [c for c in args.classes or [] if c < 0]
    if negative:
        raise ValueError(f"--classes {negative} are negative: class ids start at 0")
    if not args.list:  # --list writes nothing
        preflight.output_folder(args.out, "--out")
    preflight.device(args.device)
    from .cli.checkpoint import resolve_checkpoint  # imports Lightning: after the checks

    return resolve_checkpoint(args.checkpoint)


def task_layouts(
    task: ClassConditionalGAN, classes: list[int], per_class: int, seed: int, raw=False
):
    """(generated images, {layer: layout}) for ``per_class`` images of each class."""
    k = task.num_classes
    bad = [c for c in classes if not 0 <= c < k]
    if bad:
        raise ValueError(
            f"--classes {bad} outside [0, {k}): the model has {k} classes; pick ids 0..{k - 1}"
        )
    g = task.generator if raw else task.g_ema.module
    device = next(g.parameters()).device
    z = torch.randn(
        len(classes) * per_class, g.z_dim, generator=torch.Generator().manual_seed(seed)
    )
    y = torch.tensor(classes).repeat_interleave(per_class)
    return network_layouts(g, z.to(device), y.to(device), task.discriminator)


def write_layouts(task: ClassConditionalGAN, args: argparse.Namespace) -> list[Path]:
    classes = args.classes if args.classes is not None else list(range(min(task.num_classes, 4)))
    task.to(args.device)
    images, found = task_layouts(task, classes, args.per_class, args.seed, args.raw)
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
    with command_errors():
        ckpt = check_args(args)
        from .tasks import ClassConditionalGAN

        task, ckpt = preflight.load_checkpoint(ckpt, ClassConditionalGAN)
        paths = write_layouts(task, args)
    if paths:
        print(
            f"{len(paths)} pictures from {ckpt} (generator iteration {task.g_iter}) in {args.out}"
        )
    return paths


if __name__ == "__main__":
    main()
