import pytest
import torch

from an_lightning.data.augment import BatchAugment, DiffAugment, to_model_range


def test_model_range():
    x = to_model_range(torch.tensor([0, 255, 128], dtype=torch.uint8))
    assert x.dtype == torch.float32
    assert torch.allclose(x, torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)


def test_flip_is_per_image_and_only_a_flip():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    out = BatchAugment(hflip=True)(images)
    ref = to_model_range(images)
    same = (out == ref).flatten(1).all(1)
    flipped = (out == ref.flip(-1)).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 10 < int(flipped.sum()) < 54  # p = 0.5 per image
    assert torch.equal(BatchAugment(hflip=False)(images), ref)


def test_diffaugment_is_differentiable_and_changes_images():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32, requires_grad=True)
    y = DiffAugment("translation,cutout")(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    zero_fraction = (y.detach() == 0).float().mean().item()
    assert 0.2 < zero_fraction < 0.6  # a 16x16 cutout (25%) plus translation padding
    cut = DiffAugment("cutout")(torch.ones(4, 3, 32, 32))
    assert torch.allclose((cut == 0).float().mean(dim=(1, 2, 3)), torch.full((4,), 0.25))
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        DiffAugment("color,rotate")
