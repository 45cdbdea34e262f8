"""The calling convention every registered normalization follows.

Network blocks hold a norm without knowing which one it is, so every norm is
called as ``norm(x, cond=None)``; ``cond`` is what conditional norms need (class
labels for ``cbn``, a spatial map for ``spade``) and is ignored by the others.
"""

from __future__ import annotations

import inspect
from typing import ClassVar

import torch
from torch import Tensor, nn


def embed_labels(embedding: nn.Embedding, labels: Tensor) -> Tensor:
    """Rows of ``embedding`` for integer labels (B,), or their mixture for class
    weights (B, num_classes): soft labels give class interpolations (BigGAN's, and the
    AN supplementary's Figure 9) through the same layers that training used."""
    if labels.is_floating_point():
        if labels.dim() != 2 or labels.shape[1] != embedding.num_embeddings:
            raise ValueError(
                f"class weights must have shape (B, {embedding.num_embeddings}), "
                f"got {tuple(labels.shape)}"
            )
        return labels.to(embedding.weight.dtype) @ embedding.weight
    return embedding(labels)


class MissingConditionError(ValueError):
    """A conditional norm was called without the condition it needs."""


class Norm(nn.Module):
    """Base class of registered norms: ``forward(x, cond=None) -> Tensor``.

    ``cond_kind`` names what ``cond`` must be (``"labels"``, ``"map"``) or is
    None for unconditional norms. ``generator`` is the ``torch.Generator`` a norm
    that samples (AN's self-sampling) draws from; None means torch's global RNG.

    A subclass ``__init__`` may declare only the options it adds or whose
    defaults it changes and forward the rest as ``**options`` to its base: its
    signature is then the base's with those changes (``inherit_options``), so the
    registry's option check and ``help()`` see every option with this class's
    defaults.
    """

    cond_kind: ClassVar[str | None] = None
    generator: torch.Generator | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            inherit_options(cls)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def regularization_loss(self) -> Tensor | None:
        """Extra loss this layer wants added to its network's loss (None: none)."""
        return None

    def require_cond(self, cond: Tensor | None) -> Tensor:
        """Return ``cond`` or raise a clear error saying what to pass."""
        if cond is None:
            what = {"labels": "integer class labels of shape (B,)", "map": "a (B, C, H, W) map"}
            raise MissingConditionError(
                f"{type(self).__name__} is conditional: call it as norm(x, cond=...) with "
                f"{what.get(self.cond_kind or '', 'its condition')}"
            )
        return cond


def inherit_options(cls: type) -> None:
    """Resolve ``**options`` of ``cls.__init__`` into its base's parameters.

    The registry reads a norm's options from ``inspect.signature``, which would
    otherwise show a bare ``**options`` (no names to check, none to list). The
    result keeps the base's order, takes this class's parameter where it redeclares
    one (its default), and appends the ones it adds before the base's ``**``, if
    any. An ``__init__`` without ``**`` is left as written.
    """
    init = vars(cls)["__init__"]
    own = inspect.signature(init).parameters
    var = [p for p in own.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    if not var:
        return
    base = inspect.signature(super(cls, cls).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in base.values()):
        return  # the base is Norm itself (nn.Module's *args, **kwargs): no options to inherit
    merged = [own.get(name, p) for name, p in base.items()]
    tail = [p for p in merged if p.kind is inspect.Parameter.VAR_KEYWORD]
    merged = [p for p in merged if p not in tail]
    added = [p for name, p in own.items() if name not in base and p is not var[0]]
    init.__signature__ = inspect.Signature(
        merged + added + tail, return_annotation=inspect.signature(init).return_annotation
    )
