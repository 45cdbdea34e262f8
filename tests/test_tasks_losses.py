"""Adversarial losses on hand-worked numbers."""

import pytest
import torch

from an_lightning.tasks.losses import gradient_penalty, hinge_d, hinge_g, wgan_d, wgan_g


def test_hinge_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    # mean(relu(1 - real)) = mean(0, 0.5); mean(relu(1 + fake)) = mean(0, 1.5)
    assert hinge_d(real, fake).item() == pytest.approx(0.25 + 0.75)
    assert hinge_d(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -4.0])).item() == 0.0  # margins
    assert hinge_g(torch.tensor([1.0, 3.0])).item() == -2.0


def test_wgan_losses():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert wgan_d(real, fake).item() == -1.0
    assert wgan_g(fake).item() == -1.0


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x>: its gradient is w everywhere, so the penalty is (||w|| - 1)^2."""
    w = torch.zeros(1, 1, 2, 2)
    w[0, 0, 0, 0], w[0, 0, 1, 1] = 3.0, 4.0  # ||w|| = 5
    w.requires_grad_()

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(16.0)
    penalty.backward()  # the graph is kept: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * 4 * w.detach() / 5)


def test_gradient_penalty_interpolates_between_real_and_fake():
    """D(x) = sum(x^2) / 2 has gradient x, so the penalty reads the mixing points."""
    real, fake = torch.ones(2, 1, 1, 1), torch.zeros(2, 1, 1, 1)
    t = torch.rand(2, 1, 1, 1, generator=torch.Generator().manual_seed(3))
    penalty = gradient_penalty(
        lambda x: (x**2).flatten(1).sum(1) / 2, real, fake, torch.Generator().manual_seed(3)
    )
    assert penalty.item() == pytest.approx(((t.flatten() - 1) ** 2).mean().item())
