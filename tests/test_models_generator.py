"""The class-conditional ResNet generator: build, shapes, range, sampling, spectral norm."""

import pytest
import torch
from torch.nn.utils import parametrize

from an_lightning.models import G_ARCH, Generator, NormSpec

CLASSES = 7


def own_layers(net: torch.nn.Module):
    """Conv / linear / embedding layers the network built itself (not inside norms)."""
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding)
    inside_norms = {
        id(m)
        for name, n in net.named_modules()
        if "norm" in name.rsplit(".", 1)[-1]
        for m in n.modules()
    }
    return [m for m in net.modules() if isinstance(m, kinds) and id(m) not in inside_norms]


@pytest.mark.parametrize("res", [32, 64])
def test_small_resolutions_build_and_run(res):
    torch.manual_seed(0)
    g = Generator(resolution=res, num_classes=CLASSES, z_dim=16, ch=8)
    x = g(torch.randn(2, 16), torch.tensor([1, 6]))
    assert x.shape == (2, 3, res, res)
    assert len(g.blocks) == len(G_ARCH[res].out_mult)


def test_generator_output_is_in_tanh_range():
    torch.manual_seed(0)
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=16, ch=8)
    x = g(10 * torch.randn(4, 16), torch.arange(4))
    assert x.abs().max() <= 1.0 and x.std() > 0


def test_no_spectral_norm_in_generator_by_default():
    g = Generator(resolution=32, num_classes=CLASSES, ch=4)
    assert len(own_layers(g)) == 1 + 3 * 3 + 1  # FC, 3 blocks x (2 convs + shortcut), out conv
    assert not any(parametrize.is_parametrized(m) for m in g.modules())
    g_sn = Generator(resolution=32, num_classes=CLASSES, ch=4, spectral_norm=True)
    assert all(parametrize.is_parametrized(m, "weight") for m in own_layers(g_sn))


def test_bad_resolution():
    with pytest.raises(
        ValueError, match=r"no generator architecture for resolution 256; supported: 32, 64, 128"
    ):
        Generator(resolution=256)


def test_sample_is_reproducible():
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=16, ch=4).eval()
    x1, y1 = g.sample(3, generator=torch.Generator().manual_seed(1))
    x2, y2 = g.sample(3, generator=torch.Generator().manual_seed(1))
    assert x1.shape == (3, 3, 32, 32) and y1.shape == (3,) and y1.max() < CLASSES
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, y3 = g.sample(2, y=torch.tensor([4, 4]))
    assert x3.shape == (2, 3, 32, 32) and y3.tolist() == [4, 4]


@pytest.mark.parametrize("norm", ["cbn", "spade"])
def test_one_hot_class_weights_reproduce_integer_labels(norm):
    g = Generator(32, num_classes=4, z_dim=8, ch=4, block_norm=NormSpec(norm)).eval()
    for m in g.modules():  # cbn starts with equal classes (gain 1, bias 0)
        if isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight)
    z, y = torch.randn(3, 8), torch.tensor([0, 3, 1])
    soft = torch.nn.functional.one_hot(y, 4).float()
    assert torch.allclose(g(z, soft), g(z, y), atol=1e-6)
    mid = 0.5 * soft + 0.5 * torch.nn.functional.one_hot(torch.tensor([2, 2, 2]), 4)
    assert not torch.allclose(g(z, mid), g(z, y), atol=1e-3)
