"""``cbn``: class-conditional batch normalization (SN-GAN / BigGAN generators)."""

import torch
from torch import Tensor, nn

from .base import Norm


class ConditionalBatchNorm(Norm):
    """BN without affine, then a per-class gain (init 1) and bias (init 0)."""

    cond_kind = "labels"

    def __init__(
        self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"cbn needs num_classes >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        labels = self.require_cond(cond)
        if labels.dim() != 1 or labels.shape[0] != x.shape[0] or labels.is_floating_point():
            raise ValueError(
                f"cbn expects integer class labels of shape ({x.shape[0]},), got "
                f"{labels.dtype} {tuple(labels.shape)}"
            )
        gain = self.gain(labels)[:, :, None, None]
        bias = self.bias(labels)[:, :, None, None]
        return torch.addcmul(bias, self.bn(x), gain)
