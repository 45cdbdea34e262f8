"""Samplers for ``evaluate_sampler``: a conditional generator as ``labels -> images``.

Latents come from a seeded CPU generator (per rank), so a checkpoint's numbers are
reproducible and independent of the device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .suite import Sampler


def generator_sampler(generator: nn.Module, seed: int = 0) -> Sampler:
    """``generator(z, y)`` in eval mode with z ~ N(0, I) from a (seed, rank) stream."""
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    rng = torch.Generator().manual_seed(seed * 65_536 + rank)
    device = next(generator.parameters()).device
    generator.eval()

    @torch.no_grad()
    def sample(labels: Tensor) -> Tensor:
        z = torch.randn(len(labels), generator.z_dim, generator=rng).to(device)
        return generator(z, labels.to(device))

    return sample


def ema_sampler(task: nn.Module, seed: int = 0) -> Sampler:
    """The EMA generator of a ``ClassConditionalGAN`` (what the paper's numbers use)."""
    return generator_sampler(task.g_ema.module, seed)
