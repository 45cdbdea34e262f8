"""The small task helpers: SN-GAN's linear LR decay and the inpainting L1 weights."""

import pytest
import torch

from an_lightning.tasks.optim import linear_decay
from an_lightning.tasks.reconstruction import discount_weights, weighted_l1


@pytest.mark.parametrize(
    ("g_iter", "start", "end", "factor"),
    [
        (500, None, 1000, 1.0),  # no decay
        (100, 200, 1000, 1.0),  # before start
        (200, 200, 1000, 1.0),
        (600, 200, 1000, 0.5),
        (1000, 200, 1000, 0.0),
        (1500, 200, 1000, 0.0),  # never negative
        (600, 1000, 1000, 1.0),  # end <= start: no decay
    ],
)
def test_linear_decay(g_iter, start, end, factor):
    assert linear_decay(g_iter, start, end) == pytest.approx(factor)


def test_discount_weights():
    mask = torch.zeros(1, 1, 1, 7)
    mask[..., 1:6] = 1  # a hole of 5 pixels between two known ones
    assert torch.equal(discount_weights(mask, None), torch.ones_like(mask))
    w = discount_weights(mask, 0.5)[0, 0, 0]
    assert w[0] == w[6] == 1.0  # known pixels keep their full weight
    assert torch.allclose(w, w.flip(0))  # symmetric around the hole's centre
    assert 1.0 > w[1] > w[2] > w[3] > 0  # the deeper into the hole, the smaller
    assert torch.equal(discount_weights(mask, 1.0), torch.ones_like(mask))


def test_weighted_l1():
    prediction, target = torch.tensor([1.0, 2.0, 4.0, 0.0]), torch.zeros(4)
    weights = torch.tensor([1.0, 0.5, 0.25, 1.0])
    assert weighted_l1(prediction, target, weights).item() == pytest.approx((1 + 1 + 1 + 0) / 4)
