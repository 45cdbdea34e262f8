"""Arguments of the commands that draw pictures from a class-conditional checkpoint
(``sample``, ``layouts``): checkpoint, output folder, classes, seed, truncation, G or its
EMA, device.

Declared and checked once, so the commands accept, default and refuse them alike.
A command adds its own options between ``add_input_args`` and ``add_generator_args``
(which keeps each ``--help`` in reading order) and its own counts to ``check_args``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..latents import check_truncation
from . import preflight
from .errors import command_errors

if TYPE_CHECKING:
    from ..tasks import ClassConditionalGAN


def add_checkpoint_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a run directory (its last.ckpt) or a .ckpt file")


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def add_input_args(p: argparse.ArgumentParser, *, per_class: int, classes_help: str) -> None:
    """The checkpoint, ``--out``, ``--classes`` and ``--per-class``."""
    add_checkpoint_arg(p)
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--classes", type=int, nargs="+", help=classes_help)
    p.add_argument("--per-class", type=int, default=per_class)


def add_generator_args(p: argparse.ArgumentParser, *, raw_help: str) -> None:
    """``--seed``, ``--truncation``, ``--raw`` (G itself instead of its EMA), ``--device``."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--truncation",
        type=float,
        help="redraw latent components beyond this magnitude (BigGAN's truncation trick; "
        "default none)",
    )
    p.add_argument("--raw", action="store_true", help=raw_help)
    add_device_arg(p)


def check_args(
    args: argparse.Namespace, minimums: Mapping[str, int] | None = None, *, writes: bool = True
) -> Path:
    """The checkpoint file, once every argument is known to be usable (nothing written).

    ``minimums``: the command's own counts, ``{"--flag": least value}``, checked after
    ``--per-class``; ``writes=False`` (a listing) leaves ``--out`` unchecked.
    """
    preflight.at_least(args.per_class, 1, "--per-class")
    for flag, minimum in (minimums or {}).items():
        preflight.at_least(getattr(args, flag.lstrip("-").replace("-", "_")), minimum, flag)
    check_truncation(args.truncation, "--truncation")
    negative = [c for c in args.classes or [] if c < 0]
    if negative:
        raise ValueError(f"--classes {negative} are negative: class ids start at 0")
    if writes:
        preflight.output_folder(args.out, "--out")
    preflight.device(args.device)
    from .checkpoint import resolve_checkpoint  # imports Lightning: after the checks

    return resolve_checkpoint(args.checkpoint)


def chosen_classes(args: argparse.Namespace, num_classes: int, first: int) -> list[int]:
    """``--classes`` (default: the first ``first`` classes), each a class of the model."""
    k = num_classes
    classes = args.classes if args.classes is not None else list(range(min(k, first)))
    bad = [c for c in classes if not 0 <= c < k]
    if bad:
        raise ValueError(
            f"--classes {bad} outside [0, {k}): the model has {k} classes; pick ids 0..{k - 1}"
        )
    return classes


def chosen_generator(task: ClassConditionalGAN, args: argparse.Namespace) -> nn.Module:
    """The EMA generator, or G itself with ``--raw``."""
    return task.generator if args.raw else task.g_ema.module


def run(
    args: argparse.Namespace,
    check: Callable[[argparse.Namespace], Path],
    write: Callable[[ClassConditionalGAN, argparse.Namespace], list[Path]],
) -> list[Path]:
    """``write(task, args)`` for the checkpoint ``check(args)`` names, bad input as one
    ``error:`` line (exit 2); prints what was written, when anything was."""
    with command_errors():
        ckpt = check(args)
        from ..tasks import ClassConditionalGAN

        task, ckpt = preflight.load_checkpoint(ckpt, ClassConditionalGAN)
        paths = write(task, args)
    if paths:
        print(
            f"{len(paths)} pictures from {ckpt} (generator iteration {task.g_iter}) in {args.out}"
        )
    return paths
