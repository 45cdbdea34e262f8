"""Samplers for ``evaluate_sampler``: a conditional generator as ``labels -> images``.

Latents come from a seeded CPU generator (per rank), so a checkpoint's numbers are
reproducible and independent of the device, and the raw generator and its EMA see the
same latents and labels for the same seed.

Which generator to score: the AN paper reports no EMA, and the SN-GAN and SA-GAN rows
it compares with are raw generators, so ``raw`` is the number to put beside its table;
``ema`` (BigGAN's practice, usually better) is reported next to it. Results of several
generators are told apart by a ``/<generator>`` suffix on every metric key
(``fid/raw``, ``kid_mean/ema``, ``intra_fid/3/ema``); see ``suffixed``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ..latents import check_truncation, draw_latents
from .suite import Sampler

GENERATORS = ("raw", "ema")
# Keys of an ``evaluate_sampler`` result that describe the run, not a generator.
SHARED_KEYS = frozenset(
    {"feature_network", "n_fid", "n_intra_fid_per_class", "n_prdc_real", "n_prdc_fake", "prdc_k"}
)


def generator_sampler(
    generator: nn.Module, seed: int = 0, truncation: float | None = None
) -> Sampler:
    """``generator(z, y)`` in eval mode with z ~ N(0, I) from a (seed, rank) stream,
    truncated at ``truncation`` if given (``an_lightning.latents``)."""
    check_truncation(truncation)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    rng = torch.Generator().manual_seed(seed * 65_536 + rank)
    device = next(generator.parameters()).device
    generator.eval()

    @torch.no_grad()
    def sample(labels: Tensor) -> Tensor:
        z = draw_latents(len(labels), generator.z_dim, rng, truncation).to(device)
        return generator(z, labels.to(device))

    return sample


def ema_sampler(task: nn.Module, seed: int = 0, truncation: float | None = None) -> Sampler:
    """The EMA generator of a ``ClassConditionalGAN`` (BigGAN-style; not the paper's)."""
    return generator_sampler(task.g_ema.module, seed, truncation)


def raw_sampler(task: nn.Module, seed: int = 0, truncation: float | None = None) -> Sampler:
    """G itself: what the paper and the SN-GAN/SA-GAN rows it compares with report."""
    return generator_sampler(task.generator, seed, truncation)


def check_generators(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple; ``ValueError`` unless a non-empty, duplicate-free subset of
    ``GENERATORS``."""
    names = tuple(names)
    unknown = sorted(set(names) - set(GENERATORS))
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(
            f"generators must be distinct names out of {GENERATORS}, got {list(names)}"
        )
    return names


@contextmanager
def task_sampler(
    task: nn.Module, name: str, seed: int = 0, truncation: float | None = None
) -> Iterator[Sampler]:
    """The sampler of ``task``'s ``raw`` or ``ema`` generator; the generator's train/eval
    mode is restored afterwards, so scoring G during training leaves it training."""
    generator = {"raw": task.generator, "ema": task.g_ema.module}[check_generators([name])[0]]
    was_training = generator.training
    try:
        yield generator_sampler(generator, seed, truncation)
    finally:
        generator.train(was_training)


def suffixed(results: Mapping[str, Mapping[str, float | int | str]]) -> dict:
    """One record from ``{generator: evaluate_sampler result}``: shared keys once (from
    the first), every other key as ``<key>/<generator>``, a metric's generators adjacent."""
    first = next(iter(results.values()))
    merged: dict[str, float | int | str] = {k: v for k, v in first.items() if k in SHARED_KEYS}
    for key in first:
        if key not in SHARED_KEYS:
            for name, result in results.items():
                merged[f"{key}/{name}"] = result[key]
    return merged
