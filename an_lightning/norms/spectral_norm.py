"""Spectral norm (Miyato et al. 2018) whose power iteration stays in float32.

``torch.nn.utils.parametrizations.spectral_norm`` runs its power iteration under
whatever autocast is active, so under bf16 autocast sigma is estimated from
8-bit mantissas. This is the same parametrization rebuilt on the public
``parametrize.register_parametrization`` API, with the power iteration and sigma
computed outside autocast in (at least) float32; the layer that uses the weight
still autocasts. In float32 it reproduces torch's implementation bit for bit:
same state_dict keys (``parametrizations.<name>.original``, ``...0._u``,
``...0._v``), same random start, same 15 initial iterations, same updates, so
checkpoints written with torch's spectral norm load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["SpectralNorm", "spectral_norm"]


class SpectralNorm(nn.Module):
    """Parametrization ``W -> W / sigma(W)``, sigma from one power iteration per training call.

    Args:
        weight: the tensor to be parametrized (its shape fixes u and v).
        n_power_iterations: power iterations per training-mode access.
        dim: the output dimension (1 for transposed convs).
        eps: added in the vector normalisations.
    """

    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        ndim = weight.ndim
        if not -ndim <= dim < ndim:
            raise IndexError(f"dim={dim} is out of range for a {ndim}-D weight")
        if n_power_iterations <= 0:
            raise ValueError(f"n_power_iterations must be positive, got {n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        if ndim > 1:  # a 1-D weight is normalised exactly, no vectors needed
            mat = self.as_matrix(weight)
            h, w = mat.shape
            # Same draws in the same order as torch's parametrization.
            u = mat.new_empty(h).normal_(0, 1)
            v = mat.new_empty(w).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
            self.power_iteration(mat, 15)  # start from good estimates

    def as_matrix(self, weight: Tensor) -> Tensor:
        """The weight as (out, rest) with ``dim`` first."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    @torch.no_grad()
    def power_iteration(self, mat: Tensor, iterations: int) -> tuple[Tensor, Tensor]:
        """Update u and v in place (so replicas sharing the buffers see the update);
        returns copies of them in ``mat``'s (at least float32) dtype.

        Under ``torch.compile`` the same update runs as one opaque op
        (``power_iteration_op``), which keeps the network one graph: a graph break
        here would split it into per-layer frames that recompile per weight shape.
        Traced inline instead, inductor writes the new u into the buffer and saves that
        very buffer for backward, so a second call before backward (D on real, then on
        fake) fails autograd's version check; the op's outputs are fresh copies.
        """
        if torch.compiler.is_compiling():
            return power_iteration_op(mat.detach(), self._u, self._v, iterations, self.eps)
        return update_vectors(mat, self._u, self._v, iterations, self.eps)

    def vectors(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Copies of u and v: a second forward pass may update the buffers before the
        first backward."""
        return copies(self._u, self._v, dtype)

    def forward(self, weight: Tensor) -> Tensor:
        with torch.autocast(device_type=weight.device.type, enabled=False):
            dtype = torch.promote_types(weight.dtype, torch.float32)
            if weight.ndim == 1:
                return F.normalize(weight.to(dtype), dim=0, eps=self.eps).to(weight.dtype)
            mat = self.as_matrix(weight.to(dtype))
            if self.training:
                u, v = self.power_iteration(mat, self.n_power_iterations)
            else:
                u, v = self.vectors(dtype)
            sigma = torch.vdot(u, torch.mv(mat, v))
            return (weight.to(dtype) / sigma).to(weight.dtype)

    def right_inverse(self, value: Tensor) -> Tensor:
        """Assigning a weight stores it as the unnormalised original."""
        return value


def update_vectors(
    mat: Tensor, u0: Tensor, v0: Tensor, iterations: int, eps: float
) -> tuple[Tensor, Tensor]:
    """Power iteration from the buffers ``u0``, ``v0``, updated in place; returns
    copies of u and v in ``mat``'s (at least float32) dtype."""
    dtype = torch.promote_types(mat.dtype, torch.float32)
    with torch.no_grad(), torch.autocast(device_type=mat.device.type, enabled=False):
        mat = mat.to(dtype)
        u, v = u0.to(dtype), v0.to(dtype)
        for _ in range(iterations):
            u = F.normalize(torch.mv(mat, v), dim=0, eps=eps)
            v = F.normalize(torch.mv(mat.H, u), dim=0, eps=eps)
        u0.copy_(u)
        v0.copy_(v)
        return copies(u0, v0, dtype)


def copies(u: Tensor, v: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Fresh contiguous copies of the buffers ``u``, ``v`` in ``dtype``: what autograd may
    save, since a later forward pass updates the buffers themselves in place."""
    fresh = torch.contiguous_format
    return u.to(dtype).clone(memory_format=fresh), v.to(dtype).clone(memory_format=fresh)


# torch.library's documented way to keep a stateful piece opaque inside a graph.
@torch.library.custom_op("an_lightning::power_iteration", mutates_args=("u0", "v0"))
def power_iteration_op(
    mat: Tensor, u0: Tensor, v0: Tensor, iterations: int, eps: float
) -> tuple[Tensor, Tensor]:
    """``update_vectors`` as a custom op (``SpectralNorm.power_iteration`` under compile)."""
    return update_vectors(mat, u0, v0, iterations, eps)


@power_iteration_op.register_fake
def _(mat: Tensor, u0: Tensor, v0: Tensor, iterations: int, eps: float) -> tuple[Tensor, Tensor]:
    dtype = torch.promote_types(mat.dtype, torch.float32)
    return u0.new_empty(u0.shape, dtype=dtype), v0.new_empty(v0.shape, dtype=dtype)


def spectral_norm(
    module: nn.Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> nn.Module:
    """Register float32 spectral norm on ``module.<name>``; drop-in for torch's function.

    ``dim`` defaults to 1 for transposed convs (their output dimension) and 0 otherwise.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"module {type(module).__name__} has no tensor named {name!r}")
    if dim is None:
        transposed = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
        dim = 1 if isinstance(module, transposed) else 0
    parametrize.register_parametrization(
        module, name, SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module
