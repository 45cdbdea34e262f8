"""sa: SA-GAN self-attention against a plain softmax transcription."""

import pytest
import torch
import torch.nn.functional as F

from an_lightning.norms import build_norm


def naive_attention(sa, x, pool=True):
    b, _, h, w = x.shape
    theta = sa.query(x).flatten(2)  # (B, C/8, HW)
    phi, g = sa.key(x), sa.value(x)
    if pool:
        phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)
    beta = torch.softmax(theta.transpose(1, 2) @ phi.flatten(2), dim=-1)  # (B, HW, HW/4)
    o = (g.flatten(2) @ beta.transpose(1, 2)).view(b, -1, h, w)
    return x + sa.gamma * sa.out(o)


@pytest.mark.parametrize("pool", [True, False])
def test_matches_softmax_attention(pool):
    torch.manual_seed(0)
    sa = build_norm("sa", 16, pool=pool).double()
    with torch.no_grad():
        sa.gamma.fill_(0.8)
    x = torch.randn(2, 16, 6, 8, dtype=torch.float64)
    assert (sa(x) - naive_attention(sa, x, pool)).abs().max().item() < 1e-10


def test_shapes_and_identity_at_init():
    sa = build_norm("sa", 32)
    assert sa.query.weight.shape == (4, 32, 1, 1) and sa.value.weight.shape == (16, 32, 1, 1)
    assert sa.out.weight.shape == (32, 16, 1, 1) and sa.gamma.item() == 0.0
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(sa(x), x)


def test_spectral_norm_option():
    sa = build_norm("sa", 16, spectral_norm=True)
    assert hasattr(sa.query, "parametrizations")


def test_spectral_norm_power_iteration_is_float32_under_bf16_autocast():
    torch.manual_seed(0)
    sa = build_norm("sa", 16, spectral_norm=True)
    twin = build_norm("sa", 16, spectral_norm=True)
    twin.load_state_dict(sa.state_dict())
    with torch.no_grad():
        sa.gamma.fill_(0.5)
        twin.gamma.fill_(0.5)
    x = torch.randn(2, 16, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = sa(x)
    twin(x)  # the same training step in float32
    assert out.dtype == torch.float32  # x + gamma * o: the convs ran in bf16
    for name in ("query", "key", "value", "out"):
        mine, ref = getattr(sa, name), getattr(twin, name)
        sn, sn_ref = mine.parametrizations.weight[0], ref.parametrizations.weight[0]
        assert sn._u.dtype == sn._v.dtype == torch.float32
        assert torch.equal(sn._u, sn_ref._u) and torch.equal(sn._v, sn_ref._v)
    sa.eval()
    twin.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weight = sa.query.weight
    assert weight.dtype == torch.float32 and torch.equal(weight, twin.query.weight)
