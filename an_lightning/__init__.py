"""an_lightning: Lightning experiments for normalization research in conditional image generation.

The normalization registry (``an_lightning.norms``) is the core every task builds on.
"""

__version__ = "0.1.0"
