"""SN-GAN-style class-conditional ResNet discriminator with norms placed by configuration.

``x -> down-blocks -> ReLU -> global sum pool -> FC -> logit``. Labels enter either
by concatenating a label embedding to the 16x16 features (the AN paper) or by
the projection of Miyato & Koyama 2018 (SN-GAN, SA-GAN, BigGAN). The AN paper's AN
belongs to the 32x32 block (128 channels) and sits inside it, after its first conv;
D pools at the end of its blocks, so at 128 px that layer sees 64x64 features
(``docs/method.md``, "Placement").
"""

from __future__ import annotations

import functools
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .arch import D_ARCH, extra_slots, lookup, place_extra
from .blocks import DBlock
from .conditions import bind
from .init_args import RecordsInitArgs
from .layers import make_layers
from .spec import LayerSpec, NormSpec

NONE = NormSpec("none")


class ConcatEmbedding(nn.Module):
    """``cat([h, Embed(y) broadcast to h's H x W], dim=1)`` (the AN paper's D)."""

    def __init__(self, embedding: nn.Module) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        e = self.embedding(y)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return torch.cat([h, e.to(h.dtype)], dim=1)


class LinearHead(nn.Module):
    """logit = FC(h); the labels already entered the features."""

    def __init__(self, linear: nn.Module) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return self.linear(h).squeeze(1)


class ProjectionHead(LinearHead):
    """logit = FC(h) + <Embed(y), h> (projection discriminator, Miyato & Koyama 2018)."""

    def __init__(self, linear: nn.Module, embedding: nn.Module) -> None:
        super().__init__(linear)
        self.embedding = embedding

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return super().forward(h, y) + (self.embedding(y) * h).sum(1)


class Discriminator(RecordsInitArgs, nn.Module):
    """Class-conditional ResNet discriminator returning (B,) logits.

    Args:
        resolution: image size, one of ``D_ARCH`` (32, 64, 128).
        num_classes: number of classes of ``y``.
        ch: channel width multiplier (64 in the paper).
        conditioning: ``"concat"`` (the paper: embed_dim-channel label embedding
            concatenated to the 16x16 features) or ``"projection"`` (SN-GAN).
        embed_dim: label embedding size for ``"concat"`` (the projection embedding
            has the width of the last block); also the width of the label map of
            map-conditioned norms (``spade``).
        block_norm: norm of every block (``none`` in SN-GAN's D).
        extra: {resolution: layer} of extra layers, each in the first block whose
            output has that resolution: ``in_block`` right after its first conv, on
            ``out_channels`` features at the block's INPUT resolution (the block
            pools at its end; state_dict ``blocks.{i}.extra``), ``after_block``
            (default) after the whole block (``after.{i}.0``, before the label
            concat of that stage).
        spectral_norm: spectral norm on D's convs / linear / embedding layers.
    """

    def __init__(
        self,
        resolution: int = 128,
        num_classes: int = 1000,
        ch: int = 64,
        conditioning: Literal["concat", "projection"] = "concat",
        embed_dim: int = 128,
        block_norm: NormSpec = NONE,
        extra: dict[int, LayerSpec] | None = None,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        if conditioning not in ("concat", "projection"):
            raise ValueError(f"conditioning must be 'concat' or 'projection', got {conditioning!r}")
        arch = lookup(D_ARCH, resolution, "discriminator")
        self.resolution, self.num_classes, self.conditioning = resolution, num_classes, conditioning
        layers = make_layers(spectral_norm)

        def bound(spec: NormSpec):
            return bind(spec, num_classes, embed_dim, layers.embedding)

        which_norm, self.block_cond = bound(block_norm)
        slots = extra_slots(extra, arch.resolutions(resolution), "the discriminator")
        concat = conditioning == "concat"
        self.blocks = nn.ModuleList()
        self.after = nn.ModuleList()
        cin = 3
        for i, (mult, down) in enumerate(zip(arch.out_mult, arch.downsample, strict=True)):
            cout = mult * ch
            make_block = functools.partial(
                DBlock, cin, cout, layers, which_norm, downsample=down, preactivation=i > 0
            )
            block, after = place_extra(slots.get(i), cout, bound, make_block)
            self.blocks.append(block)
            stages = nn.ModuleList(after)
            if concat and i + 1 == arch.embed_at:
                stages.append(ConcatEmbedding(layers.embedding(num_classes, embed_dim)))
                cout += embed_dim
            self.after.append(stages)
            cin = cout
        linear = layers.linear(cin, 1)
        self.head = (
            LinearHead(linear)
            if concat
            else ProjectionHead(linear, layers.embedding(num_classes, cin))
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Logits (B,) for images (B, 3, R, R) with labels (B,)."""
        cond = self.block_cond(y)
        h = x
        for block, stages in zip(self.blocks, self.after, strict=True):
            h = block(h, cond, y)
            for stage in stages:
                h = stage(h, y)
        return self.head(F.relu(h).sum(dim=(2, 3)), y)
