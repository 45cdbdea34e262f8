"""What callbacks and commands may rely on of a task, declared once and checked.

Callbacks (FID, layouts, requeue, progress) and commands (evaluate, sample, layouts)
read a few attributes of the LightningModule they are handed. Declaring them as
Protocols lets ``fit`` refuse a task/callback mismatch with one line before anything
is written, instead of an ``AttributeError`` thousands of iterations in.

They are checked with ``provides`` (``hasattr`` on each member), not ``isinstance``:
from Python 3.12 a runtime-checkable Protocol looks members up with
``inspect.getattr_static``, which does not see an ``nn.Module``'s submodules (kept in
``_modules``, reached through ``__getattr__``), so every real task would fail the check.
The Protocols are therefore not runtime-checkable: ``isinstance`` on them raises.
"""

from __future__ import annotations

from typing import Protocol

from torch import nn


class GeneratorTask(Protocol):
    """A task that trains a generator in counted iterations and keeps its EMA."""

    g_iter: int  # generator iterations done (the step of every logged value)
    generator: nn.Module
    g_ema: nn.Module  # ``torch.optim.swa_utils.AveragedModel``; ``.module`` is the EMA G

    @property
    def max_g_steps(self) -> int:
        """The run's budget of generator iterations."""
        ...

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps per generator iteration (Lightning's ``global_step`` unit)."""
        ...

    @property
    def image_size(self) -> int:
        """The side of the images the task trains on."""
        ...

    def check_data(self, data: object) -> None:
        """Raise ``ValueError`` naming the fix if ``data`` cannot feed this task."""
        ...


class ClassConditionalTask(GeneratorTask, Protocol):
    """A generator task whose G maps (z, class label) to an image."""

    num_classes: int


def check_callbacks(task: object, callbacks: list) -> None:
    """``require`` the interface each callback declares (``task_interface``) of ``task``."""
    for callback in callbacks:
        if (interface := getattr(callback, "task_interface", None)) is not None:
            require(task, interface, type(callback).__name__)


def provides(task: object, interface: type) -> bool:
    """Whether ``task`` has every member ``interface`` declares (found as ``hasattr`` does)."""
    return not _missing(task, interface)


def require(task: object, interface: type, user: str) -> None:
    """Raise ``TypeError`` naming what ``user`` needs if ``task`` lacks ``interface``."""
    wanted = _missing(task, interface)
    if not wanted:
        return
    raise TypeError(
        f"{user} needs a {interface.__name__} ({', '.join(_members(interface))}); "
        f"{type(task).__name__} lacks {', '.join(wanted)}: remove {user} from "
        "this run's config or train a task that has them"
    )


def _missing(task: object, interface: type) -> list[str]:
    return [n for n in _members(interface) if not hasattr(task, n)]


def _members(interface: type) -> list[str]:
    names: list[str] = []
    for cls in reversed(interface.__mro__):
        if Protocol not in cls.__bases__:  # only the protocols themselves declare members
            continue
        own = [*getattr(cls, "__annotations__", {}), *vars(cls)]
        names += [n for n in own if not n.startswith("_") and n not in names]
    return names
