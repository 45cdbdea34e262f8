"""Layer tables of the inpainting networks, as data (the BigGAN ``G_arch`` idiom).

Generator: the AN supplementary, section 2 (docs/method.md section 9). ``Conv(k, c, s, d)``
is kernel k, c filters, stride s, dilation d, followed by ELU unless ``act=False``;
``UP`` is x2 nearest-neighbour upsampling; ``NORM`` is the configurable norm of the
attentive branch (AN in the paper). Critics: Yu et al. 2018 (generative_inpainting
v1, ``build_wgan_global_discriminator`` / ``build_wgan_local_discriminator``): 5x5
stride-2 convs with leaky ReLU, then flatten and one linear unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Conv:
    """One convolution; ``fixed`` channels are not scaled by the network's ``width``."""

    kernel: int
    channels: int
    stride: int = 1
    dilation: int = 1
    act: bool = True
    fixed: bool = False


UP: Literal["up"] = "up"
NORM: Literal["norm"] = "norm"
Layer = Conv | Literal["up", "norm"]

ENCODER: tuple[Layer, ...] = (
    Conv(5, 32),
    Conv(3, 64, stride=2),
    Conv(3, 64),
    Conv(3, 128, stride=2),
    Conv(3, 128),
)
BOTTLENECK: tuple[Layer, ...] = tuple(Conv(3, 128, dilation=d) for d in (2, 4, 8, 16))
DECODER1: tuple[Layer, ...] = (
    UP,
    Conv(3, 64),
    Conv(3, 64),
    UP,
    Conv(3, 32),
    Conv(3, 16),
    Conv(3, 3, act=False, fixed=True),  # then clip to [-1, 1]
)
DECODER2: tuple[Layer, ...] = (Conv(3, 128), Conv(3, 128), *DECODER1)
# Conv -> norm -> Conv -> ELU -> Conv -> ELU: no activation between the first conv and the norm.
ATTENTIVE: tuple[Layer, ...] = (Conv(3, 128, act=False), NORM, Conv(3, 128), Conv(3, 128))

# Total stride of the encoder: image sides must be a multiple of it.
STRIDE = 4

GLOBAL_CRITIC: tuple[int, ...] = (64, 128, 256, 256)
LOCAL_CRITIC: tuple[int, ...] = (64, 128, 256, 512)
CRITIC_KERNEL, CRITIC_SLOPE = 5, 0.2
