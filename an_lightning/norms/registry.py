"""Name -> class table of normalizations, built from configuration.

A norm is one file with a ``Norm`` subclass plus one ``register`` line in
``an_lightning/norms/__init__.py``. Blocks receive ``norm_factory(name, **opts)``,
a ``functools.partial`` bound once (the BigGAN-PyTorch ``which_bn`` idiom) and
called as ``factory(num_features)``, so no block imports a concrete norm.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from .base import Norm

_REGISTRY: dict[str, type[Norm]] = {}

NormFactory = Callable[..., Norm]


def register(name: str, cls: type[Norm]) -> None:
    """Add ``cls`` under ``name``; a second class under the same name is an error."""
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"norm name {name!r} is already registered to {_REGISTRY[name]}")
    if not issubclass(cls, Norm):
        raise TypeError(f"{cls} must subclass an_lightning.norms.Norm")
    _REGISTRY[name] = cls


def unregister(name: str) -> type[Norm]:
    """Remove ``name`` and return its class (tests and plugins that add a norm for a
    while); an unknown name is the same clear error as ``norm_class``'s."""
    cls = norm_class(name)
    del _REGISTRY[name]
    return cls


def norm_names() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)


def norm_class(name: str) -> type[Norm]:
    """The class registered under ``name``, or a clear error listing the names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown norm {name!r}; registered norms: {', '.join(norm_names())}"
        ) from None


def norm_options(name: str) -> dict[str, inspect.Parameter]:
    """Constructor options of a norm (everything but ``num_features``)."""
    params = inspect.signature(norm_class(name).__init__).parameters
    return {k: p for k, p in params.items() if k not in ("self", "num_features")}


def _check_options(name: str, options: dict, complete: bool) -> None:
    accepted = norm_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for norm {name!r}; "
            f"accepted options: {', '.join(accepted) or '(none)'}"
        )
    if complete:
        required = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty]
        missing = [k for k in required if k not in options]
        if missing:
            raise ValueError(f"norm {name!r} needs option(s) {missing}")


def build_norm(name: str, num_features: int, **options) -> Norm:
    """Instantiate the norm ``name`` for ``num_features`` channels."""
    _check_options(name, options, complete=True)
    return norm_class(name)(num_features, **options)


def norm_factory(name: str, **options) -> NormFactory:
    """Bind a norm and its options once; call the result as ``factory(num_features)``.

    Options are checked now, so a config typo fails before any network is built.
    Options the network supplies later (e.g. ``num_classes``) may be passed to the
    factory call.
    """
    _check_options(name, options, complete=False)
    return functools.partial(build_norm, name, **options)
