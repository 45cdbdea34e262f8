"""Layer factories (``which_conv``, ``which_linear``, ``which_embedding``).

The BigGAN-PyTorch idiom: a network chooses once, at construction, whether its
layers carry spectral norm (``torch.nn.utils.parametrizations.spectral_norm``,
Miyato et al. 2018) and hands the bound factories to its blocks, so no block
branches on it. Each factory also initialises the new layer, before spectral
norm is attached so that the power-iteration vector starts from the final weight.

Init follows SN-GAN's released ResNets (pfnet-research/sngan_projection,
``gen_models/resblocks.py`` and ``dis_models/resblocks.py``): Glorot-uniform
weights, gain sqrt(2) for the 3x3 convs of residual branches (``gain=`` at the
call site) and 1 elsewhere; zero biases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


class Float32SpectralNorm(_SpectralNorm):
    """torch's spectral norm with the power iteration and sigma outside autocast.

    Under CUDA autocast ``mv`` runs in half precision, which would estimate the
    largest singular value from 8-bit mantissas; the conv itself still autocasts.
    Subclasses torch's private parametrization to keep its state_dict layout.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            return super().forward(weight.float()).to(weight.dtype)


def _spectral_norm(module: nn.Module, name: str = "weight") -> nn.Module:
    """``torch.nn.utils.parametrizations.spectral_norm`` (dim 0) in float32."""
    weight = getattr(module, name)
    parametrize.register_parametrization(module, name, Float32SpectralNorm(weight))
    return module


def _build(cls: type[nn.Module], spectral_norm: bool, *args, gain: float = 1.0, **kwargs):
    layer = cls(*args, **kwargs)
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return _spectral_norm(layer) if spectral_norm else layer


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
