"""spade: normalised x modulated by maps predicted from a spatial condition."""

import pytest
import torch

from an_lightning.norms import build_norm


def test_matches_the_spade_formula():
    torch.manual_seed(0)
    spade = build_norm("spade", 4, cond_channels=1, hidden=8)
    x = torch.randn(2, 4, 8, 8)
    mask = (torch.rand(2, 1, 4, 4) > 0.5).float()
    up = mask.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest, x2
    a = spade.shared(up)
    want = torch.nn.functional.instance_norm(x) * (1 + spade.gamma(a)) + spade.beta(a)
    assert torch.allclose(spade(x, mask), want, atol=1e-5)


def test_batch_norm_variant_and_bad_maps():
    spade = build_norm("spade", 4, cond_channels=3, param_free="bn")
    assert isinstance(spade.norm, torch.nn.BatchNorm2d)
    with pytest.raises(ValueError, match="cond_channels"):
        spade(torch.randn(2, 4, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="param_free"):
        build_norm("spade", 4, cond_channels=1, param_free="ln")
