"""The non-finite guard: device-side flags, named on the host only when checked."""

import torch
from torch import nn

from an_lightning.tasks.finite import FiniteGuard, first_nonfinite, nonfinite_state


def test_a_nan_loss_is_named_with_the_iteration_it_first_appeared():
    guard = FiniteGuard()
    net = nn.Linear(2, 2)
    for g_iter in range(1, 10):
        bad = g_iter in (4, 6)
        loss_d = torch.tensor(float("nan") if bad else 1.0)
        guard.watch(g_iter, **{"loss/d": loss_d, "loss/g": torch.tensor(0.5)})
        if g_iter == 3:
            assert guard.check(g_iter, {"net": net}) is None
    problem = guard.check(9, {"net": net})
    assert problem == "loss/d became NaN or infinite at generator iteration 4"


def test_gradients_then_weights():
    guard = FiniteGuard()
    net = nn.Linear(2, 2)
    guard.watch(1, loss=torch.tensor(1.0))
    net.weight.grad = torch.full_like(net.weight, float("inf"))
    assert "gradient of net.weight" in guard.check(1, {"net": net})
    net.weight.grad = None
    with torch.no_grad():
        net.bias[1] = float("nan")
    assert guard.check(1, {"net": net}) == "net.bias is NaN or infinite at generator iteration 1"
    assert guard.check(1, {"net": net}, weights=False) is None


def test_nested_checkpoint_state_paths():
    assert first_nonfinite([("a", torch.ones(2)), ("b", torch.arange(3))]) is None
    state = {"opt": [{"state": {0: {"exp_avg": torch.tensor([0.0, float("-inf")])}}}]}
    assert nonfinite_state(state) == "opt.0.state.0.exp_avg"
    assert nonfinite_state({"w": torch.ones(3), "n": 3}) is None
