"""``spade``: spatially-adaptive normalization (Park et al. 2019), docs/method.md section 8."""

import torch.nn.functional as F
from torch import Tensor, nn

from .base import Norm


class SPADE(Norm):
    """Parameter-free norm, then ``norm(x) * (1 + gamma(m)) + beta(m)``.

    gamma and beta come from a small conv net on the condition map m, resized to
    x's size with nearest interpolation (a mask must stay binary).
    """

    cond_kind = "map"

    def __init__(
        self,
        num_features: int,
        cond_channels: int,
        hidden: int = 128,
        kernel_size: int = 3,
        param_free: str = "in",
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if param_free not in ("in", "bn"):
            raise ValueError(f"spade param_free must be 'in' or 'bn', got {param_free!r}")
        self.cond_channels = cond_channels
        norm_cls = nn.InstanceNorm2d if param_free == "in" else nn.BatchNorm2d
        self.norm = norm_cls(num_features, eps=eps, affine=False)
        pad = kernel_size // 2
        self.shared = nn.Sequential(
            nn.Conv2d(cond_channels, hidden, kernel_size, padding=pad), nn.ReLU()
        )
        self.gamma = nn.Conv2d(hidden, num_features, kernel_size, padding=pad)
        self.beta = nn.Conv2d(hidden, num_features, kernel_size, padding=pad)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        m = self.require_cond(cond)
        if m.dim() != 4 or m.shape[1] != self.cond_channels or m.shape[0] != x.shape[0]:
            raise ValueError(
                f"spade expects a condition map ({x.shape[0]}, {self.cond_channels}, H, W), "
                f"got {tuple(m.shape)}; set cond_channels to the map's channel count"
            )
        m = F.interpolate(m.to(x.dtype), size=x.shape[2:], mode="nearest")
        a = self.shared(m)
        return self.norm(x) * (1 + self.gamma(a)) + self.beta(a)
