"""Float32 spectral norm: bit-identical to torch's in float32, float32 under bf16 autocast."""

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from an_lightning.norms.spectral_norm import SpectralNorm, spectral_norm

LAYERS = {
    "conv": lambda: nn.Conv2d(4, 8, 3, padding=1),
    "linear": lambda: nn.Linear(6, 5),
    "embedding": lambda: nn.Embedding(7, 3),
    "conv_transpose": lambda: nn.ConvTranspose2d(4, 6, 3),
}
INPUTS = {
    "conv": lambda: torch.randn(2, 4, 5, 5),
    "linear": lambda: torch.randn(3, 6),
    "embedding": lambda: torch.tensor([0, 3, 6]),
    "conv_transpose": lambda: torch.randn(2, 4, 5, 5),
}


def pair(kind: str, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """The same layer wrapped by ours and by torch's, from the same RNG state."""
    torch.manual_seed(seed)
    base = LAYERS[kind]()
    ours, ref = LAYERS[kind](), LAYERS[kind]()
    ours.load_state_dict(base.state_dict())
    ref.load_state_dict(base.state_dict())
    torch.manual_seed(seed + 1)
    spectral_norm(ours)
    torch.manual_seed(seed + 1)
    torch_spectral_norm(ref)
    return ours, ref


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("kind", list(LAYERS))
def test_bit_identical_to_torch(kind):
    ours, ref = pair(kind)
    assert "parametrizations.weight.0._u" in ours.state_dict()
    assert_same_state(ours, ref)  # construction: 15 iterations from the same draws
    opt_a = torch.optim.SGD(ours.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(4):  # training-mode calls, with weights that move
        x = INPUTS[kind]()
        ya, yb = ours(x), ref(x)
        assert torch.equal(ya, yb)
        ya.square().sum().backward()
        yb.square().sum().backward()
        opt_a.step()
        opt_b.step()
        opt_a.zero_grad()
        opt_b.zero_grad()
    assert_same_state(ours, ref)
    ours.eval()
    ref.eval()
    x = INPUTS[kind]()
    assert torch.equal(ours(x), ref(x))
    assert torch.equal(ours.weight, ref.weight)
    assert_same_state(ours, ref)  # eval mode does not iterate


def test_torch_checkpoints_load():
    ours, ref = pair("conv", seed=3)
    ref(torch.randn(1, 4, 5, 5))
    ours.load_state_dict(ref.state_dict())
    assert_same_state(ours, ref)


def test_dim_and_errors():
    conv_t = spectral_norm(nn.ConvTranspose2d(4, 6, 3))
    assert conv_t.parametrizations.weight[0].dim == 1
    with pytest.raises(ValueError, match="no tensor"):
        spectral_norm(nn.ReLU())
    with pytest.raises(ValueError, match="positive"):
        SpectralNorm(torch.randn(3, 3), n_power_iterations=0)


def test_bf16_autocast_keeps_power_iteration_in_float32():
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(4, 8, 3, padding=1))
    twin = spectral_norm(nn.Conv2d(4, 8, 3, padding=1))
    twin.load_state_dict(conv.state_dict())
    x = torch.randn(2, 4, 6, 6)
    for _ in range(3):  # training steps: one power iteration each
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = conv(x)
        twin(x)  # the same step in float32, no autocast
    sn = conv.parametrizations.weight[0]
    assert out.dtype == torch.bfloat16  # the conv still autocasts
    assert sn._u.dtype == sn._v.dtype == torch.float32
    assert_same_state(conv, twin)
    conv.eval()
    twin.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weight = conv.weight  # W / sigma
    assert weight.dtype == torch.float32 and torch.equal(weight, twin.weight)
