"""The small wrapped norms: ``none`` (identity), ``bn`` (batch) and ``in`` (instance)."""

import pytest
import torch

from an_lightning.norms import build_norm


def test_identity_returns_its_input():
    norm = build_norm("none", 3)
    x = torch.randn(2, 3, 4, 4)
    assert norm(x) is x and norm(x, torch.zeros(2)) is x
    assert norm.num_features == 3 and not list(norm.parameters())


def test_batch_norm_normalizes_over_the_batch_per_channel():
    norm = build_norm("bn", 2, momentum=0.5)
    x = torch.randn(4, 2, 3, 3) * torch.tensor([1.0, 5.0]).view(1, 2, 1, 1) + 3
    out = norm.train()(x)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(out.var(dim=(0, 2, 3), unbiased=False), torch.ones(2), atol=1e-3)
    assert torch.allclose(norm.bn.running_mean, 0.5 * x.mean(dim=(0, 2, 3)))
    assert [p.shape for p in norm.parameters()] == [(2,), (2,)]
    assert not list(build_norm("bn", 2, affine=False).parameters())


def test_batch_norm_converts_to_sync_batchnorm():
    bn = torch.nn.SyncBatchNorm.convert_sync_batchnorm(build_norm("bn", 2))
    assert isinstance(bn.bn, torch.nn.SyncBatchNorm)


@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_normalizes_each_sample_and_channel(affine):
    norm = build_norm("in", 2) if affine else build_norm("in", 2, affine=False)
    x = torch.randn(3, 2, 4, 4) * torch.arange(1.0, 4.0).view(3, 1, 1, 1) + 7
    out = norm(x)
    assert torch.allclose(out.mean(dim=(2, 3)), torch.zeros(3, 2), atol=1e-5)
    assert torch.allclose(out.var(dim=(2, 3), unbiased=False), torch.ones(3, 2), atol=1e-3)
    assert len(list(norm.parameters())) == (2 if affine else 0)
    assert torch.equal(norm(x[:1]), out[:1])  # no batch statistics
