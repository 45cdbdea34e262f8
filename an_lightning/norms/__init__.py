"""Normalization registry: ``build_norm(name, num_features, **options)``.

Adding a norm: write one file with a ``Norm`` subclass, add one ``register`` line below.
"""

from .attentive import AttentiveNorm, AttentiveNormBase, OfficialAttentiveNorm
from .base import MissingConditionError, Norm
from .batch_norm import BatchNorm
from .collect import layouts, regularization_loss, set_generator
from .conditional_bn import ConditionalBatchNorm
from .identity import Identity
from .instance_norm import InstanceNorm
from .registry import (
    NormFactory,
    build_norm,
    norm_class,
    norm_factory,
    norm_names,
    register,
    unregister,
)
from .self_attention import SelfAttention
from .spade import SPADE

register("none", Identity)
register("bn", BatchNorm)
register("cbn", ConditionalBatchNorm)
register("in", InstanceNorm)
register("spade", SPADE)
register("sa", SelfAttention)
register("an", AttentiveNorm)
register("an_official", OfficialAttentiveNorm)

__all__ = [
    "AttentiveNorm",
    "AttentiveNormBase",
    "MissingConditionError",
    "Norm",
    "NormFactory",
    "OfficialAttentiveNorm",
    "build_norm",
    "layouts",
    "norm_class",
    "norm_factory",
    "norm_names",
    "register",
    "regularization_loss",
    "set_generator",
    "unregister",
]
