"""cbn: per-class gain and bias on top of parameter-free BN."""

import pytest
import torch

from an_lightning.norms import build_norm


def test_init_equals_plain_batch_norm():
    cbn = build_norm("cbn", 6, num_classes=3)
    assert torch.equal(cbn.gain.weight, torch.ones(3, 6))
    assert torch.equal(cbn.bias.weight, torch.zeros(3, 6))
    x = torch.randn(4, 6, 5, 5)
    want = torch.nn.functional.batch_norm(x, None, None, training=True)
    assert torch.allclose(cbn(x, torch.tensor([0, 1, 2, 0])), want, atol=1e-6)


def test_each_sample_uses_its_class_parameters():
    cbn = build_norm("cbn", 2, num_classes=3)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
        cbn.bias.weight.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]]))
    x = torch.randn(3, 2, 4, 4)
    labels = torch.tensor([2, 0, 1])
    normed = torch.nn.functional.batch_norm(x, None, None, training=True)
    want = normed * torch.tensor([3.0, 1.0, 2.0]).view(3, 1, 1, 1)
    want = want + torch.tensor([20.0, 0.0, 10.0]).view(3, 1, 1, 1)
    assert torch.allclose(cbn(x, labels), want, atol=1e-5)


def test_rejects_labels_of_the_wrong_kind():
    cbn = build_norm("cbn", 2, num_classes=3)
    x = torch.randn(3, 2, 4, 4)
    with pytest.raises(ValueError, match="integer class labels"):
        cbn(x, torch.rand(3))  # float but not (B, num_classes)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        cbn(x, torch.tensor([0, 1]))


def test_sync_batchnorm_conversion_keeps_the_calling_convention():
    cbn = torch.nn.SyncBatchNorm.convert_sync_batchnorm(build_norm("cbn", 2, num_classes=3))
    assert isinstance(cbn.bn, torch.nn.SyncBatchNorm)


def test_class_weights_mix_the_per_class_gains_and_biases():
    cbn = build_norm("cbn", 2, num_classes=3)
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.randn(3, 2))
        cbn.bias.weight.copy_(torch.randn(3, 2))
    x = torch.randn(2, 2, 4, 4)
    labels = torch.tensor([2, 0])
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(cbn(x, one_hot), cbn(x, labels), atol=1e-6)
    half = 0.5 * one_hot + 0.5 * torch.nn.functional.one_hot(torch.tensor([1, 1]), 3)
    mixed = cbn(x, half)
    want = 0.5 * cbn(x, labels) + 0.5 * cbn(x, torch.tensor([1, 1]))  # affine in the weights
    assert torch.allclose(mixed, want, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        cbn(x, torch.rand(2, 4))
