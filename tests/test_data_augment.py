import pytest
import torch

from an_lightning.data.augment import BatchAugment, DiffAugment


def to_model_range(images: torch.Tensor) -> torch.Tensor:  # the batch contract, spelled out
    return images.float() / 127.5 - 1


def test_model_range():
    x = BatchAugment(hflip=False)(torch.tensor([[0, 255, 128]], dtype=torch.uint8))
    assert x.dtype == torch.float32 and x.is_contiguous()
    assert x[0, 0] == -1 and x[0, 1] == 1  # exactly the ends of the range
    assert torch.allclose(x, torch.tensor([[-1.0, 1.0, 128 / 127.5 - 1]]), atol=1e-6)


def test_cpu_output_buffers_are_reused_only_when_free():
    augment, images = BatchAugment(hflip=False), torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    first = augment(images)
    second = augment(images + 1)  # first still held: another buffer
    assert first.data_ptr() != second.data_ptr() and (first == -1).all()
    ptr = first.data_ptr()
    del first
    assert augment(images).data_ptr() == ptr


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
