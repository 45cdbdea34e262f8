"""SN-GAN-style class-conditional ResNet generator with norms placed by configuration.

``z -> FC(4x4x(m0 ch)) -> up-blocks -> BN -> ReLU -> conv3x3 -> tanh``; at 128 px
the blocks are 1024, 512, 256, 128, 64 channels at 8 ... 128 px. The AN paper's
AN sits inside the 32x32 block, after its first conv (256 channels at 32x32):
``extra={32: LayerSpec("an", placement="in_block")}``; ``after_block`` is SA-GAN's
placement of self-attention (``docs/method.md``, "Placement").
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..norms import norm_factory
from .arch import G_ARCH, extra_slots, lookup, place_extra
from .blocks import GBlock
from .conditions import bind
from .init_args import RecordsInitArgs
from .layers import make_layers
from .spec import LayerSpec, NormSpec

CBN = NormSpec("cbn")


class Generator(RecordsInitArgs, nn.Module):
    """Class-conditional ResNet generator.

    Args:
        resolution: image size, one of ``G_ARCH`` (32, 64, 128).
        num_classes: number of classes of ``y``.
        z_dim: latent size.
        ch: channel width multiplier (64 in the paper).
        block_norm: norm of every block (``cbn``: class-conditional BN).
        extra: {resolution: layer} of extra layers (AN, self-attention, ...), each in
            the first block whose output has that resolution: ``in_block`` right after
            its first conv (on its output resolution: G upsamples before that conv,
            state_dict ``blocks.{i}.extra``), ``after_block`` (default) after the
            whole block (``after.{i}.0``).
        spectral_norm: spectral norm on G's convs / linear layers (SA-GAN, BigGAN).
        label_map_channels: channels of the learned label embedding map given to
            map-conditioned norms (``spade``); unused otherwise.
    """

    def __init__(
        self,
        resolution: int = 128,
        num_classes: int = 1000,
        z_dim: int = 128,
        ch: int = 64,
        block_norm: NormSpec = CBN,
        extra: dict[int, LayerSpec] | None = None,
        spectral_norm: bool = False,
        label_map_channels: int = 32,
    ) -> None:
        super().__init__()
        arch = lookup(G_ARCH, resolution, "generator")
        self.resolution, self.num_classes, self.z_dim = resolution, num_classes, z_dim
        layers = make_layers(spectral_norm)

        def bound(spec: NormSpec):
            return bind(spec, num_classes, label_map_channels, layers.embedding)

        which_norm, self.block_cond = bound(block_norm)
        slots = extra_slots(extra, arch.resolutions(), "the generator")
        self.bottom = (arch.in_mult[0] * ch, arch.bottom)
        self.linear = layers.linear(z_dim, arch.in_mult[0] * ch * arch.bottom**2)
        self.blocks = nn.ModuleList()
        self.after = nn.ModuleList()
        for i, (cin, cout, up) in enumerate(
            zip(arch.in_mult, arch.out_mult, arch.upsample, strict=True)
        ):
            make_block = functools.partial(
                GBlock, cin * ch, cout * ch, layers, which_norm, upsample=up
            )
            block, after = place_extra(slots.get(i), cout * ch, bound, make_block)
            self.blocks.append(block)
            self.after.append(nn.ModuleList(after))
        last = arch.out_mult[-1] * ch
        self.out_norm = norm_factory("bn")(last)
        self.out_conv = layers.conv(last, 3)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """Images (B, 3, R, R) in [-1, 1] from latents (B, z_dim) and labels (B,)."""
        cond = self.block_cond(y)
        h = self.linear(z).view(z.shape[0], self.bottom[0], self.bottom[1], self.bottom[1])
        for block, stages in zip(self.blocks, self.after, strict=True):
            h = block(h, cond, y)
            for stage in stages:
                h = stage(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))

    def sample_inputs(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(z ~ N(0, I) of shape (n, z_dim), uniform labels (n,)) on the model's device.

        ``generator`` (if given) must live on that device.
        """
        device = self.linear.weight.device
        z = torch.randn(n, self.z_dim, generator=generator, device=device)
        y = torch.randint(self.num_classes, (n,), generator=generator, device=device)
        return z, y

    def sample(
        self, n: int, y: Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(n images, their labels); labels are drawn uniformly when ``y`` is None."""
        z, y_drawn = self.sample_inputs(n, generator)
        y = y_drawn if y is None else y
        return self(z, y), y
