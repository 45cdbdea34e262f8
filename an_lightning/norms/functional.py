"""Pure functions behind Attentive Normalization (paper-notes section 1).

Algorithm 1 of the supplementary broadcasts X (B, C, 1, HW) against S (B, 1, n, HW),
which costs C*n*H*W memory per sample (1 GB at 256x256 for C=32, n=16). Every
statistic it needs is a sum over pixels of a product of X-terms and S-terms, so
here they are batched matrix products with O((C + n) * H * W) memory instead.
"""

from __future__ import annotations

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


def regional_norm(
    x: Tensor,
    layout: Tensor,
    beta: Tensor | None = None,
    alpha: Tensor | None = None,
    eps: float = 1e-5,
    variance: str = "paper",
    *,
    statistics: str = "instance",
    official_mean: bool = False,
) -> Tensor:
    """Normalise every channel of ``x`` inside each soft region of ``layout``.

    Returns Xbar = sum_k ((X - mu_k) / (sigma_k + eps) * beta_k + alpha_k) * S_k.

    Args:
        x: features (B, C, H, W).
        layout: soft layout S (B, n, H, W), summing to 1 over n.
        beta, alpha: per-channel, per-region affine (C, n); None means 1 and 0.
        eps: added to the region mass and to sigma.
        variance: ``"paper"`` is Algorithm 1, sum_p (X S - mu)^2 / cnt;
            ``"weighted"`` is the weighted variance sum_p S (X - mu)^2 / cnt.
        statistics: ``"instance"`` (per sample, the paper) or ``"batch"`` (regions
            pooled over the batch: the paper's "batch statistics" ablation).
        official_mean: divide mu by H*W as the authors' released TF code does.

    Statistics are computed in float32 even under autocast, because the variance
    expansion s2 - 2 mu s1 + HW mu^2 cancels catastrophically in half precision.
    """
    _check_inputs(x, layout, variance, statistics)
    b, c, h, w = x.shape
    n = layout.shape[1]
    out_dtype = x.dtype
    with torch.autocast(device_type=x.device.type, enabled=False):
        dtype = torch.promote_types(x.dtype, torch.float32)
        xf = x.reshape(b, c, h * w).to(dtype)
        sf = layout.reshape(b, n, h * w).to(dtype)
        st = sf.transpose(1, 2)  # (B, HW, n)

        s0 = sf.sum(dim=2, keepdim=True).transpose(1, 2)  # (B, 1, n): sum_p S
        s1 = torch.bmm(xf, st)  # (B, C, n): sum_p X S
        if variance == "paper":
            s2 = torch.bmm(xf.square(), st.square())  # sum_p X^2 S^2
            pixels = torch.full_like(s0, float(h * w))  # the mu^2 term sums over all pixels
        else:
            s2 = torch.bmm(xf.square(), st)  # sum_p X^2 S
            pixels = s0
        if statistics == "batch":
            s0, s1, s2, pixels = (t.sum(dim=0, keepdim=True) for t in (s0, s1, s2, pixels))

        cnt = s0 + eps
        mu = s1 / cnt
        if official_mean:
            mu = mu / (h * w)
        var = (s2 - 2.0 * mu * s1 + pixels * mu.square()) / cnt
        sigma = _safe_sqrt(var.clamp_min(0.0))

        scale = 1.0 / (sigma + eps)  # (B or 1, C, n)
        if beta is not None:
            scale = scale * beta.to(dtype)
        shift = -mu * scale
        if alpha is not None:
            shift = shift + alpha.to(dtype)
        scale, shift = scale.expand(b, c, n), shift.expand(b, c, n)
        # X * (scale @ S) + (shift @ S): one product for both keeps peak memory low.
        maps = torch.bmm(torch.cat([scale, shift], dim=1), sf)  # (B, 2C, HW)
        out = torch.addcmul(maps[:, c:], xf, maps[:, :c])
    return out.reshape(b, c, h, w).to(out_dtype)


def orthogonality_loss(weight: Tensor, signed: bool = False) -> Tensor:
    """||W W^T - I||_F^2 of a 1x1 conv weight (n, C, 1, 1): entities stay distinct.

    ``signed=True`` reproduces the released TF code, which sums the entries of
    W W^T - I without squaring them (it can go negative).
    """
    mat = weight.reshape(weight.shape[0], -1).float()
    gram = mat @ mat.t()
    diff = gram - torch.eye(gram.shape[0], device=gram.device, dtype=gram.dtype)
    return diff.sum() if signed else diff.square().sum()
