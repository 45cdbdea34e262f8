"""Networks: SN-GAN-style ResNet G and D (class-conditional GAN), and the inpainting
networks (``models.inpaint``).

Norms come from configuration (``NormSpec``) through the normalization registry:
one for every block, plus extra layers (``LayerSpec``: AN, self-attention, ...) at
chosen resolutions, inside or after a block.
"""

from .arch import D_ARCH, G_ARCH
from .discriminator import Discriminator
from .generator import Generator
from .inpaint import GlobalLocalCritic, InpaintGenerator
from .spec import LayerSpec, NormSpec

__all__ = [
    "D_ARCH",
    "G_ARCH",
    "Discriminator",
    "Generator",
    "GlobalLocalCritic",
    "InpaintGenerator",
    "LayerSpec",
    "NormSpec",
]
