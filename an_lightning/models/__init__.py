"""Networks of the class-conditional GAN task: SN-GAN-style ResNet G and D.

Norms come from configuration (``NormSpec``) through the normalization registry:
one for every block, plus extra layers (AN, self-attention, ...) at chosen
resolutions.
"""

from .arch import D_ARCH, G_ARCH
from .discriminator import Discriminator
from .generator import Generator
from .spec import NormSpec

__all__ = ["D_ARCH", "G_ARCH", "Discriminator", "Generator", "NormSpec"]
