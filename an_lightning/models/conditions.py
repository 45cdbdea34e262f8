"""What a norm's ``cond`` is made of, chosen once per network from ``cond_kind``.

Networks get class labels ``y``; a norm declares what it needs (``cond_kind``):
``"labels"`` gets ``y`` itself, ``"map"`` (SPADE) gets a learned label embedding
as a (B, E, 1, 1) map (SPADE resizes it to the features, i.e. it is broadcast
spatially), unconditional norms get None. ``late_options`` are the constructor
options only the network knows (``num_classes``, ``cond_channels``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from ..norms import NormFactory, norm_class
from ..norms.base import embed_labels
from .spec import NormSpec


class Labels(nn.Module):
    """cond = y (class-conditional BN)."""

    def forward(self, y: Tensor) -> Tensor:
        return y


class Unconditional(nn.Module):
    """cond = None (norms that ignore the labels)."""

    def forward(self, y: Tensor) -> None:
        return None


class LabelMap(nn.Module):
    """cond = Embed(y) as a (B, E, 1, 1) map, for map-conditioned norms (SPADE)."""

    def __init__(self, embedding: nn.Module) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, y: Tensor) -> Tensor:
        return embed_labels(self.embedding, y)[:, :, None, None]


def late_options(kind: str | None, num_classes: int, map_channels: int) -> dict[str, Any]:
    """Options a norm of ``cond_kind`` ``kind`` gets from the network."""
    table = {"labels": {"num_classes": num_classes}, "map": {"cond_channels": map_channels}}
    return table.get(kind or "", {})


def condition(
    kind: str | None, num_classes: int, map_channels: int, embedding: Callable[..., nn.Module]
) -> nn.Module:
    """The module turning labels into the ``cond`` of a norm of ``cond_kind`` ``kind``."""
    if kind == "labels":
        return Labels()
    if kind == "map":
        return LabelMap(embedding(num_classes, map_channels))
    if kind is None:
        return Unconditional()
    raise ValueError(f"networks cannot condition a norm with cond_kind={kind!r}")


def bind(
    spec: NormSpec, num_classes: int, map_channels: int, embedding: Callable[..., nn.Module]
) -> tuple[NormFactory, nn.Module]:
    """(factory called as ``factory(C)``, module making its ``cond`` from labels)."""
    kind = norm_class(spec.name).cond_kind
    factory = spec.factory()
    late = late_options(kind, num_classes, map_channels)
    return functools.partial(factory, **late), condition(kind, num_classes, map_channels, embedding)


class ConditionedLayer(nn.Module):
    """An extra layer (after a block or inside one), called as ``layer(h, y)`` ->
    ``norm(h, cond)`` with its own label-to-cond module."""

    def __init__(self, norm: nn.Module, cond: nn.Module) -> None:
        super().__init__()
        self.norm, self.cond = norm, cond

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return self.norm(h, cond=self.cond(y))
