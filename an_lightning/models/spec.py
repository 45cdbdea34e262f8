"""``NormSpec``: a norm named in configuration, turned into a registry factory.

Networks take norms as plain data (a registry name plus options) so that a YAML
file places any registered norm in any block without code; the network binds
what only it knows (``num_classes``, the label-map width) when it calls the
factory. ``LayerSpec`` adds where an extra layer (AN, self-attention) sits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..norms import NormFactory, norm_factory

Placement = Literal["in_block", "after_block"]
PLACEMENTS: tuple[str, ...] = get_args(Placement)


@dataclass
class NormSpec:
    """A registry norm ``name`` with its ``options`` (checked by ``factory()``)."""

    name: str = "cbn"
    options: dict[str, Any] = field(default_factory=dict)

    def factory(self) -> NormFactory:
        """``norm_factory(name, **options)``: fails now on an unknown name or option."""
        return norm_factory(self.name, **self.options)


@dataclass
class LayerSpec(NormSpec):
    """An extra layer of G or D: a norm plus where it sits in "the R x R block".

    ``after_block`` (default, so older configs keep their meaning and checkpoints):
    after the whole residual block, SA-GAN's placement of self-attention.
    ``in_block``: inside that block, right after its first 3x3 conv, i.e. between
    a conv and the norm + activation that follow (the AN paper's reading, see
    ``docs/method.md``, "Placement").
    """

    placement: Placement = "after_block"

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(
                f"placement must be one of {', '.join(map(repr, PLACEMENTS))}, "
                f"got {self.placement!r}"
            )


def layer_spec(spec: NormSpec) -> LayerSpec:
    """``spec`` as a ``LayerSpec``: a plain ``NormSpec`` means ``after_block``."""
    if isinstance(spec, LayerSpec):
        return spec
    return LayerSpec(spec.name, dict(spec.options))
