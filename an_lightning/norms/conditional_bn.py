"""``cbn``: class-conditional batch normalization (SN-GAN / BigGAN generators)."""

import torch
from torch import Tensor, nn

from .base import Norm, embed_labels


class ConditionalBatchNorm(Norm):
    """BN without affine, then a per-class gain (init 1) and bias (init 0).

    ``cond`` is integer labels (B,) or class weights (B, num_classes), whose mixture
    of the per-class gains and biases interpolates between classes.
    """

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
        soft = labels.is_floating_point() and labels.dim() == 2
        hard = not labels.is_floating_point() and labels.dim() == 1
        if not (soft or hard) or labels.shape[0] != x.shape[0]:
            raise ValueError(
                f"cbn expects integer class labels of shape ({x.shape[0]},) or class "
                f"weights ({x.shape[0]}, {self.num_classes}), got "
                f"{labels.dtype} {tuple(labels.shape)}"
            )
        gain = embed_labels(self.gain, labels)[:, :, None, None]
        bias = embed_labels(self.bias, labels)[:, :, None, None]
        return torch.addcmul(bias, self.bn(x), gain)
