"""Networks that remember how they were built, so checkpoints can rebuild them.

A task written by LightningCLI gets its networks' ``class_path``/``init_args`` from the
CLI's config; one built in plain Python only has the module objects. Networks that
derive from ``RecordsInitArgs`` keep their constructor arguments (defaults filled in)
as ``init_args``, and ``module_config`` turns such a module into the same
``{"class_path", "init_args"}`` dict the CLI writes, in plain data (checkpoints are
read back with ``torch.load(weights_only=True)``, which refuses arbitrary objects).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from pathlib import PurePath
from typing import Any

from torch import nn


class RecordsInitArgs:
    """Mixin: ``self.init_args`` is what the outermost ``__init__`` was called with.

    Every subclass's own ``__init__`` is wrapped (signature and docstring kept, so
    jsonargparse sees the real parameters); the outermost call finishes last, so a
    subclass records its own arguments, not those it passed to ``super().__init__``.
    """

    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return  # inherits a recording __init__
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            bound = signature.bind(self, *args, **kw)
            bound.apply_defaults()
            recorded: dict[str, Any] = {}
            for (name, value), param in zip(
                list(bound.arguments.items())[1:],
                list(signature.parameters.values())[1:],
                strict=True,
            ):
                if param.kind is param.VAR_KEYWORD:
                    recorded.update(value)
                elif param.kind is param.VAR_POSITIONAL:
                    if value:
                        raise TypeError(f"{cls.__name__} cannot record positional *{name}")
                else:
                    recorded[name] = value
            self.init_args = recorded

        cls.__init__ = recording_init  # type: ignore[method-assign]


def class_path(obj: object) -> str:
    """The importable dotted name of ``obj``'s class."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def module_config(module: nn.Module) -> dict[str, Any] | None:
    """``{"class_path", "init_args"}`` of a module that records its arguments, else None."""
    recorded = getattr(module, "init_args", None)
    if not isinstance(recorded, dict):
        return None
    return {"class_path": class_path(module), "init_args": plain(recorded)}


def plain(value: Any) -> Any:
    """``value`` as checkpoint-safe data jsonargparse parses back into the same objects:
    recorded modules as class_path/init_args, dataclasses as dicts, paths as strings."""
    if isinstance(value, nn.Module):
        config = module_config(value)
        if config is None:
            raise TypeError(
                f"{class_path(value)} does not record its constructor arguments "
                "(derive it from an_lightning.models.init_args.RecordsInitArgs)"
            )
        return config
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {f.name: plain(getattr(value, f.name)) for f in fields if f.init}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value
