"""Direct, unoptimised transcriptions of the paper's formulas, used as test oracles.

They follow Algorithm 1 of the supplementary literally (broadcast to
(B, H, W, C, n)), so they are slow and memory hungry on purpose.
"""

from __future__ import annotations

import torch
from torch import Tensor


def naive_regional_norm(
    x: Tensor,
    layout: Tensor,
    beta: Tensor | None = None,
    alpha: Tensor | None = None,
    eps: float = 1e-5,
    variance: str = "paper",
    statistics: str = "instance",
    official_mean: bool = False,
) -> Tensor:
    """Algorithm 1, TF style: X (b,h,w,c,1) * S (b,h,w,1,n)."""
    h, w = x.shape[2:]
    X = x.permute(0, 2, 3, 1).unsqueeze(-1)
    S = layout.permute(0, 2, 3, 1).unsqueeze(-2)
    dims = (1, 2) if statistics == "instance" else (0, 1, 2)
    cnt = S.sum(dim=dims, keepdim=True) + eps
    activated = X * S
    mean = activated.sum(dim=dims, keepdim=True) / cnt
    if official_mean:
        mean = mean / (h * w)
    if variance == "paper":
        std = torch.sqrt(((activated - mean) ** 2).sum(dim=dims, keepdim=True) / cnt)
    else:
        std = torch.sqrt((S * (X - mean) ** 2).sum(dim=dims, keepdim=True) / cnt)
    out = (X - mean) / (std + eps)
    if beta is not None:
        out = out * beta
    if alpha is not None:
        out = out + alpha
    return (out * S).sum(dim=-1).permute(0, 3, 1, 2)


def naive_ssr_logits(k: Tensor, q: Tensor, positions: Tensor) -> Tensor:
    """F[b, i, p] = sum_c k[b, c, pos_i] q[b, c, p], by explicit loops over b and i."""
    b, _, h, w = q.shape
    kf = k.flatten(2)
    out = torch.zeros(b, positions.shape[1], h, w, dtype=q.dtype)
    for bi in range(b):
        for i, pos in enumerate(positions[bi].tolist()):
            out[bi, i] = (kf[bi, :, pos, None, None] * q[bi]).sum(dim=0)
    return out
