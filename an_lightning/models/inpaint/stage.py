"""A stack of layers built from an ``arch`` table; norms get the mask as ``cond``."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ...norms import Norm, NormFactory
from .arch import NORM, UP, Conv, Layer


def scaled(conv: Conv, width: float) -> int:
    """Filters of ``conv`` in a network ``width`` times the paper's."""
    return conv.channels if conv.fixed else max(1, round(conv.channels * width))


class Upsample(nn.Module):
    """x2 nearest-neighbour upsampling."""

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class ConvELU(nn.Module):
    """'Same'-padded (dilated, strided) conv, then ELU unless the table says otherwise."""

    def __init__(self, cin: int, cout: int, spec: Conv) -> None:
        super().__init__()
        pad = spec.dilation * (spec.kernel - 1) // 2
        self.conv = nn.Conv2d(
            cin, cout, spec.kernel, spec.stride, padding=pad, dilation=spec.dilation
        )
        self.act = nn.ELU() if spec.act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class Stage(nn.Module):
    """Layers of ``table`` in order; ``NORM`` entries are ``norm(C)`` called with ``cond``."""

    def __init__(
        self,
        in_channels: int,
        table: tuple[Layer, ...],
        width: float,
        norm: NormFactory | None = None,
    ) -> None:
        super().__init__()
        layers, c = [], in_channels
        for entry in table:
            if entry == UP:
                layers.append(Upsample())
            elif entry == NORM:
                if norm is None:
                    raise ValueError("this layer table has a norm slot but no norm was given")
                layers.append(norm(c))
            else:
                cout = scaled(entry, width)
                layers.append(ConvELU(c, cout, entry))
                c = cout
        self.layers = nn.ModuleList(layers)
        self.out_channels = c

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, cond=cond) if isinstance(layer, Norm) else layer(x)
        return x
