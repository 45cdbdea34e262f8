"""``in``: instance normalization (per sample, per channel)."""

from torch import Tensor, nn

from .base import Norm


class InstanceNorm(Norm):
    """InstanceNorm2d with the registry's calling convention; affine by default."""

    def __init__(self, num_features: int, affine: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, eps=eps, affine=affine)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.norm(x)
