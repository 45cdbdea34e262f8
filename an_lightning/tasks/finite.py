"""Stop a diverged run before it overwrites good state with NaNs.

A GAN that diverges keeps training on NaN losses without an error; checkpoint rotation
then replaces the last good state with a worthless one. ``FiniteGuard`` records, on the
device and without a host sync, whether any watched loss went non-finite and at which
generator iteration it first did; ``check`` (on the logging cadence and before every
save) reads that flag once, then looks at gradients and weights, and raises
``NonFiniteError`` naming the iteration and the first non-finite quantity.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


class NonFiniteError(RuntimeError):
    """Training produced a NaN or infinite loss, gradient or weight."""


def first_nonfinite(named: Iterable[tuple[str, Tensor]]) -> str | None:
    """The name of the first floating tensor in ``named`` with a NaN or inf, else None."""
    named = [(n, t) for n, t in named if t is not None and t.is_floating_point()]
    if not named:
        return None
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu()  # one sync
    bad = (~finite).nonzero()
    return named[int(bad[0])][0] if len(bad) else None


def nonfinite_state(state: object, prefix: str = "") -> str | None:
    """The key path of the first non-finite tensor in a nested checkpoint dictionary."""
    found: list[tuple[str, Tensor]] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, Tensor):
            found.append((path, value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{path}.{i}")

    walk(state, prefix)
    return first_nonfinite(found)


class FiniteGuard:
    """Device-side flags for named losses, checked on the host only when asked."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._bad: Tensor | None = None  # (len(names),) bool: went non-finite since reset
        self._first: Tensor | None = None  # (len(names),) int64: iteration it first did

    def watch(self, g_iter: int, **losses: Tensor) -> None:
        """OR the non-finiteness of each loss into its flag (device ops only, no sync)."""
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        if self._bad is None:
            self.names = list(losses)
            self._bad = torch.zeros(len(losses), dtype=torch.bool, device=values.device)
            self._first = torch.full_like(self._bad, -1, dtype=torch.int64)
        elif list(losses) != self.names:
            raise ValueError(f"watch the same losses every step: {self.names}, got {list(losses)}")
        bad = ~torch.isfinite(values)
        newly = bad & ~self._bad
        self._first = torch.where(newly, torch.full_like(self._first, g_iter), self._first)
        self._bad = self._bad | bad

    def loss_problem(self) -> str | None:
        """``"loss/d became NaN or infinite at generator iteration 12"``, or None (one sync)."""
        if self._bad is None:
            return None
        bad, first = self._bad.cpu(), self._first.cpu()
        for name, b, at in zip(self.names, bad.tolist(), first.tolist(), strict=True):
            if b:
                return f"{name} became NaN or infinite at generator iteration {at}"
        return None

    def check(self, g_iter: int, nets: dict[str, nn.Module], weights: bool = True) -> str | None:
        """The first problem among the losses, then gradients, then (optionally) weights."""
        if problem := self.loss_problem():
            return problem
        grads = [
            (f"{name}.{p}", w.grad) for name, net in nets.items() for p, w in net.named_parameters()
        ]
        if bad := first_nonfinite(grads):
            return f"the gradient of {bad} is NaN or infinite at generator iteration {g_iter}"
        if weights:
            state = [(f"{name}.{k}", v) for name, net in nets.items() for k, v in _state(net)]
            if bad := first_nonfinite(state):
                return f"{bad} is NaN or infinite at generator iteration {g_iter}"
        return None


def _state(net: nn.Module) -> Iterable[tuple[str, Tensor]]:
    yield from net.named_parameters()
    yield from net.named_buffers()
