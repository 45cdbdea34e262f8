"""Network-wide walks over norms: summed regularizers, generators, kept layouts."""

import torch
from torch import Tensor, nn

from an_lightning.norms import build_norm, layouts, regularization_loss, set_generator
from an_lightning.norms.base import Norm


class Penalized(Norm):
    def __init__(self, loss: float | None) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return x

    def regularization_loss(self) -> Tensor | None:
        return None if self.loss is None else torch.tensor(self.loss)


def test_regularization_loss_sums_the_norms_that_have_one():
    net = nn.Sequential(Penalized(1.5), nn.Linear(1, 1), nn.Sequential(Penalized(2.5)))
    assert regularization_loss(net).item() == 4.0
    assert regularization_loss(nn.Sequential(Penalized(None), nn.Linear(1, 1))) is None


def test_set_generator_reaches_every_norm_of_a_kind():
    net = nn.Sequential(Penalized(None), nn.Sequential(Penalized(1.0)), build_norm("bn", 2))
    rng = torch.Generator()
    assert set_generator(net, rng, kind=Penalized) == 2
    assert [m.generator is rng for m in net.modules() if isinstance(m, Norm)] == [
        True,
        True,
        False,
    ]
    assert set_generator(net, None) == 3
    assert all(m.generator is None for m in net.modules() if isinstance(m, Norm))


def test_layouts_are_collected_for_pictures():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        build_norm("an", 16, n=5), build_norm("an", 16, n=7, keep_layout=False)
    )
    net.eval()
    x = torch.randn(2, 16, 8, 8)
    for m in net:
        x = m(x)
    found = layouts(net)
    assert list(found) == ["0"]
    s = found["0"]
    assert s.shape == (2, 5, 8, 8) and not s.requires_grad
    assert torch.allclose(s.sum(dim=1), torch.ones(2, 8, 8), atol=1e-6)
