"""``--generator raw|ema|both`` of ``python -m an_lightning.evaluate``.

A GAN is scored with both generators by default: the paper's table compares raw
generators (it reports no EMA), BigGAN-style practice reports the EMA. Both see the same
latents and labels and share one reference; every metric key carries the generator as a
suffix (``fid/raw``, ``fid/ema``; ``metrics.sampler.suffixed``), also when only one is
scored, so a record is never ambiguous. The old ``--raw`` flag still means
``--generator raw``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from torch import nn

from ..metrics.sampler import GENERATORS, suffixed, task_sampler
from ..metrics.suite import Sampler

CHOICES = (*GENERATORS, "both")


def add_generator_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--generator",
        choices=CHOICES,
        help="which generator to score (GAN default: both, keys fid/raw and fid/ema; "
        "inpainting: one, default ema)",
    )
    p.add_argument("--raw", action="store_true", help="old spelling of --generator raw")


def resolve_generator_options(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fold ``--raw`` into ``--generator`` (usage error, exit 2, when they disagree)."""
    if args.raw:
        if args.generator not in (None, "raw"):
            p.error(f"--raw contradicts --generator {args.generator}: use --generator alone")
        print("note: --raw is the old spelling of --generator raw", file=sys.stderr)
        args.generator = "raw"
    del args.raw


def generator_names(spec: str | None, default: str = "both") -> tuple[str, ...]:
    """``--generator`` as a tuple of names out of ``GENERATORS``."""
    spec = spec or default
    return GENERATORS if spec == "both" else (spec,)


def score_generators(
    task: nn.Module,
    names: tuple[str, ...],
    seed: int,
    score: Callable[[Sampler], dict],
    truncation: float | None = None,
) -> dict:
    """``score(sampler)`` for each generator of ``task`` (same seed and truncation), as one
    suffixed record."""
    results = {}
    for name in names:
        with task_sampler(task, name, seed, truncation) as sample:
            results[name] = score(sample)
    return suffixed(results)
