"""``bn``: batch normalization.

The ``nn.BatchNorm2d`` is a child rather than a base class so that
``nn.SyncBatchNorm.convert_sync_batchnorm`` can swap it for DDP while this
wrapper keeps the ``norm(x, cond)`` signature.
"""

from torch import Tensor, nn

from .base import Norm


class BatchNorm(Norm):
    """BatchNorm2d with the registry's calling convention."""

    def __init__(
        self, num_features: int, affine: bool = True, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=affine)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.bn(x)
