"""GBlock / DBlock compute SN-GAN's residual formulas, with layers and norms from factories
and an optional extra layer right after conv1."""

import torch
import torch.nn.functional as F
from torch import nn

from an_lightning.models.blocks import DBlock, GBlock
from an_lightning.models.layers import make_layers
from an_lightning.norms import norm_class, norm_factory

PLAIN = make_layers(spectral_norm=False)
IDENTITY = norm_factory("none")


def up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def test_gblock_formula():
    torch.manual_seed(0)
    b = GBlock(4, 6, PLAIN, IDENTITY)
    x = torch.randn(2, 4, 5, 5)
    h = b.conv2(F.relu(b.conv1(up(F.relu(x)))))
    assert torch.allclose(b(x), h + b.shortcut(up(x)), atol=1e-6)
    assert b(x).shape == (2, 6, 10, 10)


def test_gblock_norms_see_the_condition_and_identity_shortcut():
    b = GBlock(4, 4, PLAIN, norm_factory("cbn", num_classes=3), upsample=False)
    assert isinstance(b.shortcut, nn.Identity)
    assert isinstance(b.norm1, norm_class("cbn")) and isinstance(b.norm2, norm_class("cbn"))
    assert b(torch.randn(2, 4, 5, 5), torch.tensor([0, 2])).shape == (2, 4, 5, 5)


def test_dblock_preactivation_formula():
    torch.manual_seed(0)
    b = DBlock(4, 6, PLAIN)
    x = torch.randn(2, 4, 8, 8)
    h = F.avg_pool2d(b.conv2(F.relu(b.conv1(F.relu(x)))), 2)
    sc = F.avg_pool2d(b.shortcut[0](x), 2)  # conv first, then pool
    assert isinstance(b.shortcut[0], nn.Conv2d)
    assert torch.allclose(b(x), h + sc, atol=1e-6)


def test_dblock_optimized_formula():
    """SN-GAN's first D block: no ReLU on the image, shortcut pools before the 1x1 conv."""
    torch.manual_seed(0)
    b = DBlock(3, 6, PLAIN, preactivation=False)
    x = torch.randn(2, 3, 8, 8)
    h = F.avg_pool2d(b.conv2(F.relu(b.conv1(x))), 2)
    sc = b.shortcut[1](F.avg_pool2d(x, 2))
    assert isinstance(b.shortcut[1], nn.Conv2d)
    assert torch.allclose(b(x), h + sc, atol=1e-6)


def test_dblock_without_downsampling_keeps_identity_shortcut():
    b = DBlock(4, 4, PLAIN, downsample=False)
    assert isinstance(b.shortcut, nn.Identity)
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(b(x), b.conv2(F.relu(b.conv1(F.relu(x)))) + x, atol=1e-6)


def test_spectral_layers_from_the_factory():
    sn = make_layers(spectral_norm=True)
    conv, conv1 = sn.conv(4, 8), sn.conv(4, 8, kernel_size=1, padding=0)
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv1.kernel_size == (1, 1)
    for m in (conv, conv1, sn.linear(4, 2), sn.embedding(5, 3)):
        assert torch.nn.utils.parametrize.is_parametrized(m, "weight")


class Tagged(nn.Module):
    """A stand-in extra layer ``layer(h, y)``: a fixed affine map that records ``y``."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, h, y):
        self.seen.append(y)
        return 2.0 * h + 0.5


def test_gblock_extra_sits_between_conv1_and_norm2():
    torch.manual_seed(0)
    layer = Tagged()
    b = GBlock(4, 6, PLAIN, IDENTITY, extra=layer)
    x, y = torch.randn(2, 4, 5, 5), torch.tensor([1, 2])
    h = b.conv2(F.relu(layer(b.conv1(up(F.relu(x))), y)))
    assert torch.allclose(b(x, None, y), h + b.shortcut(up(x)), atol=1e-6)
    assert all(torch.equal(s, y) for s in layer.seen)


def test_dblock_extra_sits_between_conv1_and_norm2_before_the_pooling():
    torch.manual_seed(0)
    layer = Tagged()
    b = DBlock(4, 6, PLAIN, extra=layer)
    x, y = torch.randn(2, 4, 8, 8), torch.tensor([1, 2])
    h = F.avg_pool2d(b.conv2(F.relu(layer(b.conv1(F.relu(x)), y))), 2)
    assert torch.allclose(b(x, None, y), h + F.avg_pool2d(b.shortcut[0](x), 2), atol=1e-6)
    optimized = DBlock(3, 6, PLAIN, preactivation=False, extra=Tagged())
    x = torch.randn(2, 3, 8, 8)
    h = F.avg_pool2d(optimized.conv2(F.relu(2.0 * optimized.conv1(x) + 0.5)), 2)
    assert torch.allclose(optimized(x), h + optimized.shortcut[1](F.avg_pool2d(x, 2)), atol=1e-6)
