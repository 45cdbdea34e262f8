"""Per-resolution architecture tables (the BigGAN-PyTorch ``G_arch``/``D_arch`` idiom).

Channel entries are multipliers of ``ch``. Sources:

* G 32 / 64 / 128 and D 32 / 64: BigGAN-PyTorch ``BigGAN.py`` ``G_arch`` / ``D_arch``
  (ajbrock/BigGAN-PyTorch). G 32 with ch=64 is SN-GAN's CIFAR generator (256
  channels, 3 up-blocks); G 128 is SN-GAN's / the AN paper's 128 px generator.
* D 128: the AN paper (five down-blocks 64 -> 1024 channels, output 4x4). SN-GAN
  and BigGAN append a sixth 16ch block without downsampling; the paper does not.
* ``embed_at`` (concat conditioning): index of the D block whose input gets the
  label embedding; the paper concatenates it to the 16x16 features at 128 px, and
  we keep 16x16 at every resolution.

Extra layers are keyed by a block's OUTPUT resolution ("the 32x32 block");
``LayerSpec.placement`` says whether the layer goes inside that block (after its
first conv) or after it (``docs/method.md``, "Placement").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..norms import NormFactory
from .conditions import ConditionedLayer
from .spec import LayerSpec, NormSpec, layer_spec


@dataclass(frozen=True)
class GArch:
    """Generator blocks from a 4x4 ``in_mult[0] * ch`` tensor up to the image."""

    in_mult: tuple[int, ...]
    out_mult: tuple[int, ...]
    upsample: tuple[bool, ...]
    bottom: int = 4

    def resolutions(self) -> tuple[int, ...]:
        """Output resolution of every block."""
        out, r = [], self.bottom
        for up in self.upsample:
            r *= 2 if up else 1
            out.append(r)
        return tuple(out)


@dataclass(frozen=True)
class DArch:
    """Discriminator blocks from the image down; block 0 is SN-GAN's optimized block."""

    out_mult: tuple[int, ...]
    downsample: tuple[bool, ...]
    embed_at: int

    def resolutions(self, image: int) -> tuple[int, ...]:
        """Output resolution of every block for an ``image`` px input."""
        out, r = [], image
        for down in self.downsample:
            r //= 2 if down else 1
            out.append(r)
        return tuple(out)


G_ARCH: dict[int, GArch] = {
    32: GArch(in_mult=(4, 4, 4), out_mult=(4, 4, 4), upsample=(True,) * 3),
    64: GArch(in_mult=(16, 16, 8, 4), out_mult=(16, 8, 4, 2), upsample=(True,) * 4),
    128: GArch(in_mult=(16, 16, 8, 4, 2), out_mult=(16, 8, 4, 2, 1), upsample=(True,) * 5),
}

D_ARCH: dict[int, DArch] = {
    32: DArch(out_mult=(4, 4, 4, 4), downsample=(True, True, False, False), embed_at=1),
    64: DArch(out_mult=(1, 2, 4, 8, 16), downsample=(True,) * 4 + (False,), embed_at=2),
    128: DArch(out_mult=(1, 2, 4, 8, 16), downsample=(True,) * 5, embed_at=3),
}


def lookup(table: dict, resolution: int, what: str):
    """``table[resolution]`` or a one-line error naming the supported resolutions."""
    if resolution not in table:
        raise ValueError(
            f"no {what} architecture for resolution {resolution}; "
            f"supported: {', '.join(map(str, sorted(table)))}"
        )
    return table[resolution]


def extra_slots(
    extra: dict[int, NormSpec] | None, resolutions: tuple[int, ...], what: str
) -> dict[int, LayerSpec]:
    """{block index: spec}: each extra layer belongs to the first block whose output has
    its resolution (inside it or after it, per ``placement``; a bare ``NormSpec``
    means after it)."""
    slots = {}
    for res, spec in (extra or {}).items():
        if res not in resolutions:
            raise ValueError(
                f"{what} has no block output at resolution {res} for an extra layer; "
                f"available resolutions: {', '.join(map(str, sorted(set(resolutions))))}"
            )
        slots[resolutions.index(res)] = layer_spec(spec)
    return slots


def place_extra(
    spec: LayerSpec | None,
    channels: int,
    bound: Callable[[NormSpec], tuple[NormFactory, nn.Module]],
    make_block: Callable[..., nn.Module],
) -> tuple[nn.Module, list[nn.Module]]:
    """(block, layers after it) for one block slot of G or D.

    ``spec``'s layer (on ``channels`` features, its ``cond`` from ``bound(spec)``)
    goes where its ``placement`` says: into ``make_block(extra=layer)`` for
    ``in_block``, into the returned list for ``after_block``; None means no extra
    layer. The in-block layer is built before its block and the after-block one
    after it, the order in which both networks have always drawn their initial
    weights, so a seed still gives the same networks.
    """

    def layer(placement: str) -> ConditionedLayer | None:
        if spec is None or spec.placement != placement:
            return None
        factory, cond = bound(spec)
        return ConditionedLayer(factory(channels), cond)

    block = make_block(extra=layer("in_block"))
    after = layer("after_block")
    return block, [] if after is None else [after]
