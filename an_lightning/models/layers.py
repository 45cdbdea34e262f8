"""Layer factories (``which_conv``, ``which_linear``, ``which_embedding``).

The BigGAN-PyTorch idiom: a network chooses once, at construction, whether its
layers carry spectral norm (Miyato et al. 2018; ``an_lightning.norms.spectral_norm``,
torch's parametrization with its power iteration kept in float32 under autocast)
and hands the bound factories to its blocks, so no block branches on it. Each
factory also initialises the new layer, before spectral norm is attached so that
the power-iteration vector starts from the final weight.

Init follows SN-GAN's released ResNets (pfnet-research/sngan_projection,
``gen_models/resblocks.py`` and ``dis_models/resblocks.py``): Glorot-uniform
weights, gain sqrt(2) for the 3x3 convs of residual branches (``gain=`` at the
call site) and 1 elsewhere; zero biases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..norms.spectral_norm import spectral_norm as float32_spectral_norm


def _build(cls: type[nn.Module], spectral_norm: bool, *args, gain: float = 1.0, **kwargs):
    layer = cls(*args, **kwargs)
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return float32_spectral_norm(layer) if spectral_norm else layer


@dataclass(frozen=True)
class Layers:
    """Bound layer constructors; ``conv`` defaults to 3x3 with padding 1.

    Call as ``conv(cin, cout)``, ``conv(cin, cout, kernel_size=1, padding=0)``,
    ``linear(fin, fout)``, ``embedding(num, dim)``; all accept ``gain=``.
    """

    conv: Callable[..., nn.Module]
    linear: Callable[..., nn.Module]
    embedding: Callable[..., nn.Module]
    spectral_norm: bool


def make_layers(spectral_norm: bool) -> Layers:
    """Factories for plain or spectrally normalised conv / linear / embedding layers."""
    return Layers(
        conv=functools.partial(_build, nn.Conv2d, spectral_norm, kernel_size=3, padding=1),
        linear=functools.partial(_build, nn.Linear, spectral_norm),
        embedding=functools.partial(_build, nn.Embedding, spectral_norm),
        spectral_norm=spectral_norm,
    )
