"""Adversarial losses: hinge (GAN task) and WGAN-GP (inpainting), as pure functions."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def hinge_d(real: Tensor, fake: Tensor) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (SA-GAN, AN paper)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: Tensor) -> Tensor:
    """-E[D(G(z))]."""
    return -fake.mean()


def wgan_d(real: Tensor, fake: Tensor) -> Tensor:
    """WGAN critic loss -E[D(x)] + E[D(G(z))] (Gulrajani et al. 2017)."""
    return fake.mean() - real.mean()


def wgan_g(fake: Tensor) -> Tensor:
    """WGAN generator loss -E[D(G(z))]."""
    return -fake.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """E[(||grad D(x_t)||_2 - 1)^2] at x_t = t x + (1 - t) G(z), t ~ U[0, 1] per sample.

    The WGAN-GP term (Gulrajani et al. 2017; the AN paper's lambda_gap term). The
    critic must score each sample independently (no batch statistics). The graph is
    kept, so the penalty trains the critic.
    """
    t = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    mixed = (t * real.detach() + (1 - t) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
