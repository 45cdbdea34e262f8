"""Adversarial losses, as pure functions of discriminator outputs."""

import torch.nn.functional as F
from torch import Tensor


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (SA-GAN, AN paper)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    """-E[D(G(z))]."""
    return -fake.mean()
