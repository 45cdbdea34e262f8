"""Pure functions behind Attentive Normalization (docs/method.md section 1).

Algorithm 1 of the supplementary broadcasts X (B, C, 1, HW) against S (B, 1, n, HW),
which costs C*n*H*W memory per sample (1 GB at 256x256 for C=32, n=16). Every
statistic it needs is a sum over pixels of a product of X-terms and S-terms, so
here they are batched matrix products with O((C + n) * H * W) memory instead.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor

VARIANCES = ("paper", "weighted")
STATISTICS = ("instance", "batch")


def _safe_sqrt(v: Tensor) -> Tensor:
    """sqrt with a zero (not NaN) gradient where v == 0, e.g. an empty region."""
    positive = v > 0
    return torch.where(positive, v, torch.ones_like(v)).sqrt() * positive


def _check_inputs(x: Tensor, layout: Tensor, variance: str, statistics: str) -> None:
    if x.dim() != 4 or layout.dim() != 4:
        raise ValueError(
            f"regional_norm expects x (B, C, H, W) and layout (B, n, H, W); "
            f"got x {tuple(x.shape)} and layout {tuple(layout.shape)}"
        )
    if x.shape[0] != layout.shape[0] or x.shape[2:] != layout.shape[2:]:
        raise ValueError(
            f"x {tuple(x.shape)} and layout {tuple(layout.shape)} must share batch size and "
            f"spatial size; resize the layout to x's H, W first"
        )
    if variance not in VARIANCES:
        raise ValueError(f"variance={variance!r} is not one of {VARIANCES}")
    if statistics not in STATISTICS:
        raise ValueError(f"statistics={statistics!r} is not one of {STATISTICS}")


def regional_stats(
    x: Tensor,
    layout: Tensor,
    eps: float = 1e-5,
    variance: str = "paper",
    *,
    statistics: str = "instance",
    official_mean: bool = False,
) -> tuple[Tensor, Tensor]:
    """Per-region mean and variance (B, C, n), or (1, C, n) with batch statistics.

    The arguments are those of ``regional_affine``. Computed in float32 (float64 for
    float64 input) even under autocast: the expansion s2 - 2 mu s1 + HW mu^2
    cancels catastrophically in half precision. The variance is clamped at 0.
    """
    _check_inputs(x, layout, variance, statistics)
    b, c, h, w = x.shape
    n = layout.shape[1]
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = torch.promote_types(x.dtype, torch.float32)
        xf = x.reshape(b, c, h * w).to(dtype)
        sf = layout.reshape(b, n, h * w).to(dtype)

        s0 = sf.sum(dim=2).unsqueeze(1)  # (B, 1, n): sum_p S
        s1, s2 = _RegionMoments.apply(xf, sf, variance == "paper")  # (B, C, n) each
        # Algorithm 1's mu^2 term sums over all pixels; the weighted one over the region.
        pixels = torch.full_like(s0, float(h * w)) if variance == "paper" else s0
        if statistics == "batch":
            s0, s1, s2, pixels = (t.sum(dim=0, keepdim=True) for t in (s0, s1, s2, pixels))

        cnt = s0 + eps
        mu = s1 / cnt
        if official_mean:
            mu = mu / (h * w)
        var = (s2 - 2.0 * mu * s1 + pixels * mu.square()) / cnt
    return mu, var.clamp_min(0.0)


def regional_affine(
    x: Tensor,
    layout: Tensor,
    beta: Tensor | None = None,
    alpha: Tensor | None = None,
    eps: float = 1e-5,
    variance: str = "paper",
    *,
    statistics: str = "instance",
    official_mean: bool = False,
    stats: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-region ``scale`` and ``shift`` (B, C, n), with Xbar = X * (scale @ S) + shift @ S.

    scale = beta / (sigma + eps) and shift = alpha - mu * scale.

    Args:
        x: features (B, C, H, W).
        layout: soft layout S (B, n, H, W), summing to 1 over n.
        beta, alpha: per-channel, per-region affine (C, n), or (C, 1) shared by
            the regions as in Algorithm 1's shapes; None means 1 and 0.
        eps: added to the region mass and to sigma.
        variance: ``"paper"`` is Algorithm 1, sum_p (X S - mu)^2 / cnt;
            ``"weighted"`` is the weighted variance sum_p S (X - mu)^2 / cnt.
        statistics: ``"instance"`` (per sample, the paper) or ``"batch"`` (regions
            pooled over the batch: the paper's "batch statistics" ablation).
        official_mean: divide mu by H*W as the authors' released TF code does.
        stats: (mean, var), each broadcastable to (B, C, n), to normalise with
            instead of measured statistics (batch statistics at eval time use
            running averages, as BN does).
    """
    _check_inputs(x, layout, variance, statistics)
    b, c = x.shape[:2]
    n = layout.shape[1]
    if stats is None:
        stats = regional_stats(
            x, layout, eps, variance, statistics=statistics, official_mean=official_mean
        )
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = torch.promote_types(x.dtype, torch.float32)
        mu, var = (t.to(dtype) for t in stats)
        scale = 1.0 / (_safe_sqrt(var.clamp_min(0.0)) + eps)
        if beta is not None:
            scale = scale * beta.to(dtype)
        shift = -mu * scale
        if alpha is not None:
            shift = shift + alpha.to(dtype)
    return scale.expand(b, c, n), shift.expand(b, c, n)


def apply_regional(
    x: Tensor, layout: Tensor, scale: Tensor, shift: Tensor, residual: Tensor | None = None
) -> Tensor:
    """X * (scale @ S) + shift @ S (+ residual), in x's dtype.

    Two (C, n) @ (n, HW) products replace the sum over regions of Algorithm 1,
    and the residual lets AN compute ``x + rho * Xbar`` without an Xbar buffer.
    """
    b, c, h, w = x.shape
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = scale.dtype
        flat = (t.reshape(b, t.shape[1], h * w).to(dtype) for t in (x, layout))
        res = None if residual is None else residual.reshape(b, c, h * w).to(dtype)
        out = _ApplyRegional.apply(*flat, scale, shift, res)
    return out.reshape(b, c, h, w).to(x.dtype)


def _mul(fresh: Tensor, other: Tensor) -> Tensor:
    """fresh * other, reusing ``fresh``'s buffer unless a double backward is recording."""
    return fresh * other if torch.is_grad_enabled() else fresh.mul_(other)


class _RegionMoments(torch.autograd.Function):
    """s1 = X S^T and s2 = X^2 (S^2)^T (paper) or X^2 S^T (weighted), per sample.

    Written by hand because autograd would keep X^2 and S^2 alive until the
    backward pass (1.5x the size of X at n = C/2); they are cheap to recompute.
    The backward is made of differentiable ops, so double backward (gradient
    penalties through AN) still works.
    """

    @staticmethod
    def forward(ctx, xf: Tensor, sf: Tensor, paper: bool) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(xf, sf)
        ctx.paper = paper
        st = sf.transpose(1, 2)
        return torch.bmm(xf, st), torch.bmm(xf.square(), st.square() if paper else st)

    @staticmethod
    def backward(ctx, g1: Tensor, g2: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        xf, sf = ctx.saved_tensors
        gx = gs = None
        if ctx.needs_input_grad[0]:  # g1 S + 2 X * (g2 S^2)  (S, not S^2, when weighted)
            gx = torch.bmm(g2, sf.square() if ctx.paper else sf)
            gx = _mul(gx, xf).mul_(2.0) if not torch.is_grad_enabled() else 2.0 * gx * xf
            gx = torch.baddbmm(gx, g1, sf)
        if ctx.needs_input_grad[1]:  # g1^T X + 2 S * (g2^T X^2)  (no 2 S * when weighted)
            gs = torch.bmm(g1.transpose(1, 2), xf)
            g2x2 = torch.bmm(g2.transpose(1, 2), xf.square())
            gs = torch.addcmul(gs, sf, g2x2, value=2.0) if ctx.paper else gs + g2x2
        return gx, gs, None


class _ApplyRegional(torch.autograd.Function):
    """X * (scale @ S) + shift @ S (+ residual) without saving (C, HW) buffers.

    Autograd would keep scale @ S alive for the backward pass; recomputing it
    there costs one small matrix product and saves a full-size buffer.
    """

    @staticmethod
    def forward(
        ctx, xf: Tensor, sf: Tensor, scale: Tensor, shift: Tensor, residual: Tensor | None
    ) -> Tensor:
        ctx.save_for_backward(xf, sf, scale, shift)
        ctx.has_residual = residual is not None
        # Eagerly, in place (forward runs without autograd): one full-size buffer fewer.
        # Under torch.compile, which fuses these anyway, out of place: torch 2.11's dynamo
        # routes the gradient of a forward output modified in place to the wrong slot,
        # which made every gradient through AN wrong (pytorch/pytorch#180642).
        inplace = not torch.compiler.is_compiling()
        out = torch.bmm(shift, sf)
        if residual is not None:
            out = out.add_(residual) if inplace else out + residual
        prod = torch.bmm(scale, sf)
        return out.addcmul_(xf, prod) if inplace else torch.addcmul(out, xf, prod)

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
        xf, sf, scale, shift = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = _mul(torch.bmm(scale, sf), g) if need[0] else None
        gxs = g * xf
        st = sf.transpose(1, 2)
        gscale = torch.bmm(gxs, st) if need[2] else None
        gshift = torch.bmm(g, st) if need[3] else None
        gs = None
        if need[1]:
            gs = torch.baddbmm(torch.bmm(shift.transpose(1, 2), g), scale.transpose(1, 2), gxs)
        return gx, gs, gscale, gshift, (g if ctx.has_residual else None)


def regional_norm(x: Tensor, layout: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """Normalise every channel of ``x`` inside each soft region of ``layout``.

    Returns Xbar = sum_k ((X - mu_k) / (sigma_k + eps) * beta_k + alpha_k) * S_k.
    The arguments are those of ``regional_affine`` (documented there), forwarded
    as they are so that the two cannot drift apart.
    """
    return apply_regional(x, layout, *regional_affine(x, layout, *args, **kwargs))


# help() and inspect show the real arguments rather than *args, **kwargs.
regional_norm.__signature__ = inspect.signature(regional_affine).replace(return_annotation="Tensor")


def orthogonality_loss(weight: Tensor, signed: bool = False) -> Tensor:
    """||W W^T - I||_F^2 of a 1x1 conv weight (n, C, 1, 1): entities stay distinct.

    ``signed=True`` reproduces the released TF code, which sums the entries of
    W W^T - I without squaring them (it can go negative).
    """
    # At least float32 (a bf16 Gram matrix is too coarse), float64 kept for float64.
    mat = weight.reshape(weight.shape[0], -1).to(torch.promote_types(weight.dtype, torch.float32))
    gram = mat @ mat.t()
    diff = gram - torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype)
    return diff.sum() if signed else diff.square().sum()
