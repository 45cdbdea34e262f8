"""SN-GAN residual blocks (Miyato & Koyama 2018; BigGAN-PyTorch ``layers.py``).

Blocks get their layers and norms as factories (``layers.Layers``, a registry
``NormFactory``), so the same block serves plain / spectrally normalised layers
and any registered norm; every norm is called ``norm(x, cond)``. A block may also
hold an ``extra`` layer (AN's in-block placement, ``docs/method.md`` "Placement"):
any module called ``extra(h, y)`` with the class labels, run right after the first
3x3 conv, so the block never needs to know which norm it is.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ..norms import NormFactory, norm_factory
from .layers import Layers

RESIDUAL_GAIN = math.sqrt(2.0)  # SN-GAN's init gain of residual-branch 3x3 convs


class GBlock(nn.Module):
    """``h = conv1(up(relu(norm1(x)))); h = extra(h, y); h = conv2(relu(norm2(h)))``,
    ``out = h + sc(up(x))``.

    ``extra`` (optional) sits between conv1 and the norm + ReLU that follow, on
    ``out_channels`` features at the block's output resolution (upsampling precedes
    conv1); the class-conditional ``norm2`` stays. The 1x1 shortcut conv is learnable
    when channels change or the block upsamples (SN-GAN); nearest-neighbour 2x
    upsampling.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layers: Layers,
        which_norm: NormFactory,
        upsample: bool = True,
        extra: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = which_norm(in_channels)
        self.conv1 = layers.conv(in_channels, out_channels, gain=RESIDUAL_GAIN)
        self.extra = extra
        self.norm2 = which_norm(out_channels)
        self.conv2 = layers.conv(out_channels, out_channels, gain=RESIDUAL_GAIN)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest") if upsample else nn.Identity()
        learnable = upsample or in_channels != out_channels
        self.shortcut = (
            layers.conv(in_channels, out_channels, kernel_size=1, padding=0)
            if learnable
            else nn.Identity()
        )

    def forward(self, x: Tensor, cond: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """``cond`` feeds the block's norms; the labels ``y`` feed ``extra``."""
        h = self.conv1(self.upsample(F.relu(self.norm1(x, cond))))
        if self.extra is not None:
            h = self.extra(h, y)
        h = self.conv2(F.relu(self.norm2(h, cond)))
        return h + self.shortcut(self.upsample(x))


class DBlock(nn.Module):
    """Pre-activation ``h = conv1(relu(norm1(x))); h = extra(h, y)``,
    ``out = pool(conv2(relu(norm2(h)))) + shortcut``.

    ``extra`` (optional) sits between conv1 and the norm + ReLU that follow, on
    ``out_channels`` features at the block's INPUT resolution: SN-GAN's D pools at
    the end of the block (at 128 px, the block with 32x32 output runs it on 64x64).

    ``preactivation=False`` is SN-GAN's "optimized" first block, which sees the
    image: no norm/ReLU on the input, and its shortcut pools before the 1x1 conv
    (``conv(pool(x))``) while the others convolve first (``pool(conv(x))``).
    ``which_norm`` defaults to the identity (SN-GAN's D has no norms) so norms
    can be ablated in D; 2x2 average pooling.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        layers: Layers,
        which_norm: NormFactory | None = None,
        downsample: bool = True,
        preactivation: bool = True,
        extra: nn.Module | None = None,
    ) -> None:
        super().__init__()
        which_norm = which_norm or norm_factory("none")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = which_norm(in_channels) if preactivation else norm_factory("none")(0)
        self.act1 = nn.ReLU() if preactivation else nn.Identity()
        self.conv1 = layers.conv(in_channels, out_channels, gain=RESIDUAL_GAIN)
        self.extra = extra
        self.norm2 = which_norm(out_channels)
        self.conv2 = layers.conv(out_channels, out_channels, gain=RESIDUAL_GAIN)
        self.downsample = nn.AvgPool2d(2) if downsample else nn.Identity()
        if downsample or in_channels != out_channels:
            conv_sc = layers.conv(in_channels, out_channels, kernel_size=1, padding=0)
            order = [conv_sc, self.downsample] if preactivation else [self.downsample, conv_sc]
            self.shortcut: nn.Module = nn.Sequential(*order)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor, cond: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        """``cond`` feeds the block's norms; the labels ``y`` feed ``extra``."""
        h = self.conv1(self.act1(self.norm1(x, cond)))
        if self.extra is not None:
            h = self.extra(h, y)
        h = self.conv2(F.relu(self.norm2(h, cond)))
        return self.downsample(h) + self.shortcut(x)
