"""Gaussian statistics of features and the Frechet distance between two of them.

Everything runs in float64 with torch only (no scipy): FID differences between
normalisation variants are often < 1, and float32 sums over 50k 2048-d features lose that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchmetrics import Metric


@dataclass
class GaussianStats:
    """Mean and covariance (float64) of ``count`` feature vectors."""

    mean: Tensor
    cov: Tensor
    count: int

    def __post_init__(self) -> None:
        d = self.mean.shape[-1]
        if self.mean.ndim != 1 or self.cov.shape != (d, d):
            raise ValueError(
                f"mean must be (D,) and cov (D, D); got {tuple(self.mean.shape)} and "
                f"{tuple(self.cov.shape)}"
            )

    @classmethod
    def from_features(cls, features: Tensor) -> GaussianStats:
        """Sample mean and unbiased covariance of an (N, D) feature matrix."""
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(
                f"need an (N, D) feature matrix with N >= 2, got {tuple(features.shape)}"
            )
        x = features.to(torch.float64)
        return cls(x.mean(0), torch.cov(x.T), x.shape[0])


def _sqrt_psd(matrix: Tensor) -> Tensor:
    """Symmetric square root of a positive semi-definite matrix (negative noise clipped)."""
    vals, vecs = torch.linalg.eigh(matrix)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2), which has the same spectrum as S_a S_b;
    this avoids the non-symmetric ``sqrtm`` (and its complex parts) of the TF/scipy code.
    """
    if a.mean.shape != b.mean.shape:
        raise ValueError(
            f"feature sizes differ ({a.mean.shape[0]} vs {b.mean.shape[0]}): both statistics "
            "must come from the same feature network"
        )
    mu_a, mu_b = a.mean.to(torch.float64), b.mean.to(torch.float64)
    cov_a, cov_b = a.cov.to(torch.float64), b.cov.to(torch.float64)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    middle = (middle + middle.T) / 2
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()
    diff = mu_a - mu_b
    value = diff @ diff + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return float(value)


class FeatureMoments(Metric):
    """Running sums of features and their outer products, summed across DDP ranks.

    ``compute()`` gives the ``GaussianStats`` of every feature seen on every rank, so each
    rank only extracts features of its own share of the images.
    """

    full_state_update = False

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        f64 = torch.float64
        self.add_state("total", torch.zeros(num_features, dtype=f64), dist_reduce_fx="sum")
        self.add_state(
            "outer", torch.zeros(num_features, num_features, dtype=f64), dist_reduce_fx="sum"
        )
        self.add_state("count", torch.zeros((), dtype=f64), dist_reduce_fx="sum")

    def update(self, features: Tensor) -> None:
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"expected (N, {self.num_features}) features, got {tuple(features.shape)}"
            )
        x = features.to(torch.float64)
        self.total += x.sum(0)
        self.outer += x.T @ x
        self.count += x.shape[0]

    def compute(self) -> GaussianStats:
        n = int(self.count.item())
        if n < 2:
            raise ValueError(f"covariance needs at least 2 feature vectors, got {n}")
        mean = self.total / n
        cov = (self.outer - n * torch.outer(mean, mean)) / (n - 1)
        return GaussianStats(mean, (cov + cov.T) / 2, n)
