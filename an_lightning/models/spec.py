"""``NormSpec``: a norm named in configuration, turned into a registry factory.

Networks take norms as plain data (a registry name plus options) so that a YAML
file places any registered norm in any block without code; the network binds
what only it knows (``num_classes``, the label-map width) when it calls the
factory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..norms import NormFactory, norm_factory


@dataclass
class NormSpec:
    """A registry norm ``name`` with its ``options`` (checked by ``factory()``)."""

    name: str = "cbn"
    options: dict[str, Any] = field(default_factory=dict)

    def factory(self) -> NormFactory:
        """``norm_factory(name, **options)``: fails now on an unknown name or option."""
        return norm_factory(self.name, **self.options)
