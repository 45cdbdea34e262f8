"""Network-wide operations over the norms a model contains.

A task needs the sum of its network's norm regularizers (AN's orthogonality
loss), to seed every sampling norm from its own per-rank generator, and to
read the learned layouts for pictures, without knowing where the norms sit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Norm


def regularization_loss(net: nn.Module) -> Tensor | None:
    """Sum of ``regularization_loss()`` over the norms in ``net``; None if none has one."""
    norms = (m for m in net.modules() if isinstance(m, Norm))
    losses = [loss for m in norms if (loss := m.regularization_loss()) is not None]
    return torch.stack(losses).sum() if losses else None


def set_generator(net: nn.Module, generator: torch.Generator | None, kind: type = Norm) -> int:
    """Make every ``kind`` module in ``net`` (norms by default; the GAN task also sets its
    DiffAugment) draw from ``generator``; returns how many were set."""
    count = 0
    for m in net.modules():
        if isinstance(m, kind):
            m.generator = generator
            count += 1
    return count


def layouts(net: nn.Module) -> dict[str, Tensor]:
    """The last soft layout (B, n, H, W) of every norm that keeps one, by module name."""
    return {
        name: m.last_layout
        for name, m in net.named_modules()
        if isinstance(m, Norm) and getattr(m, "last_layout", None) is not None
    }
