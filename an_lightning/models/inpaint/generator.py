"""The AN paper's two-stage inpainting generator (supplementary section 2, Yu et al. 2018).

Input layout (Yu et al.'s released code): X = [C, 1, M], five channels: the image with
the hole zeroed (C = Y * (1 - M)), a channel of ones (tells zero padding from zeroed
holes) and the mask M (1 = missing). Stage 1: X -> Encoder -> Bottleneck -> Decoder1
= coarse. Stage 2 reads concat(coarse', X) with coarse' = the coarse result inside the
hole and the known pixels outside (as the released code feeds its second stage), eight
channels, through two encoders of their own: one into the attentive branch (Conv ->
norm -> Conv -> ELU -> Conv -> ELU), one into a second bottleneck; their concatenation
goes through Decoder2 = final. Both outputs are clipped to [-1, 1].
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from ...norms import NormFactory, norm_class
from ..init_args import RecordsInitArgs
from ..spec import NormSpec
from .arch import ATTENTIVE, BOTTLENECK, DECODER1, DECODER2, ENCODER, STRIDE
from .patches import composite
from .stage import Stage

IMAGE, INPUT = 3, 5  # RGB; [C, ones, M]


def mask_conditioned(spec: NormSpec) -> NormFactory:
    """Factory of the attentive-branch norm; map-conditioned norms (SPADE) get the mask."""
    kind = norm_class(spec.name).cond_kind
    if kind == "labels":
        raise ValueError(
            f"norm {spec.name!r} is conditioned on class labels, which inpainting does not "
            "have; use an, none, sa, spade (mask-conditioned) or another unconditional norm"
        )
    factory = spec.factory()
    if kind == "map" and "cond_channels" not in spec.options:
        return functools.partial(factory, cond_channels=1)
    return factory


class InpaintGenerator(RecordsInitArgs, nn.Module):
    """Coarse-to-fine inpainting generator, ``forward(image, mask) -> (coarse, final)``.

    Args:
        norm: the attentive branch's norm (``an`` in the paper; ``none`` is the
            branch without attention, ``sa`` self-attention, ``spade`` conditioned
            on the mask).
        width: channel multiplier of every layer but the RGB outputs (1 = paper).

    ``image`` (B, 3, H, W) in [-1, 1] and ``mask`` (B, 1, H, W) with 1 = missing; the
    generator zeroes the hole itself, so hole pixels of ``image`` never leak in. H and W
    must be multiples of ``STRIDE`` (4).
    """

    def __init__(self, norm: NormSpec | None = None, width: float = 1.0) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        norm = norm if norm is not None else NormSpec("an")
        self.norm_name, self.width = norm.name, width
        self.coarse_encoder = Stage(INPUT, ENCODER, width)
        self.coarse_bottleneck = Stage(self.coarse_encoder.out_channels, BOTTLENECK, width)
        self.coarse_decoder = Stage(self.coarse_bottleneck.out_channels, DECODER1, width)
        refine_in = IMAGE + INPUT
        self.attentive_encoder = Stage(refine_in, ENCODER, width)
        self.attentive = Stage(
            self.attentive_encoder.out_channels, ATTENTIVE, width, mask_conditioned(norm)
        )
        self.refine_encoder = Stage(refine_in, ENCODER, width)
        self.refine_bottleneck = Stage(self.refine_encoder.out_channels, BOTTLENECK, width)
        merged = self.attentive.out_channels + self.refine_bottleneck.out_channels
        self.refine_decoder = Stage(merged, DECODER2, width)

    @staticmethod
    def check_input(image: Tensor, mask: Tensor) -> None:
        """Clear errors for inputs the network cannot take."""
        if image.dim() != 4 or image.shape[1] != IMAGE:
            raise ValueError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
        if mask.shape != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(
                f"mask must be (B, 1, H, W) = {(image.shape[0], 1, *image.shape[2:])}, "
                f"got {tuple(mask.shape)}"
            )
        h, w = image.shape[2:]
        if h % STRIDE or w % STRIDE:
            raise ValueError(
                f"image sides must be multiples of {STRIDE}, got {h}x{w}; pad the image "
                "(an_lightning.inpaint does this for you)"
            )

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        self.check_input(image, mask)
        mask = mask.to(image.dtype)
        known = image * (1 - mask)
        x = torch.cat([known, torch.ones_like(mask), mask], dim=1)
        coarse = self.coarse_decoder(self.coarse_bottleneck(self.coarse_encoder(x)))
        coarse = coarse.clamp(-1, 1)
        refine_in = torch.cat([composite(coarse, known, mask), x], dim=1)
        a = self.attentive(self.attentive_encoder(refine_in), cond=mask)
        b = self.refine_bottleneck(self.refine_encoder(refine_in))
        final = self.refine_decoder(torch.cat([a, b], dim=1)).clamp(-1, 1)
        return coarse, final
