"""Latents for sampling a trained generator: z ~ N(0, I), optionally truncated.

The truncation trick (Brock et al. 2019, BigGAN, section 3.1): every component of z
whose magnitude exceeds a threshold is drawn again until none does, trading variety for
fidelity; lower thresholds give more typical images and fewer kinds of them. Training
always uses the untruncated prior, and so do the AN paper's numbers; a truncated
evaluation says so in its record (``truncation``) and is not comparable with them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_truncation(threshold: float | None, flag: str = "truncation") -> None:
    """``ValueError`` unless ``threshold`` is None (no truncation) or positive."""
    if threshold is not None and not threshold > 0:
        raise ValueError(
            f"{flag} must be a positive threshold (BigGAN uses 0.04 to 2), got {threshold}; "
            "leave it out for the untruncated prior"
        )


def draw_latents(
    n: int, dim: int, generator: torch.Generator | None = None, truncation: float | None = None
) -> Tensor:
    """(n, dim) latents on the CPU from ``generator``; with ``truncation``, components
    beyond it are redrawn from the same stream until all lie within it. Without it the
    draw is exactly ``torch.randn(n, dim, generator=generator)``."""
    check_truncation(truncation)
    z = torch.randn(n, dim, generator=generator)
    if truncation is None:
        return z
    outside = z.abs() > truncation
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > truncation
    return z
