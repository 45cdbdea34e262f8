"""Precision / recall and density / coverage of generated features (k-NN manifold estimates).

FID folds fidelity and diversity into one number; these split them. Each sample set is
approximated by a union of balls: around every feature vector, a ball whose radius is the
distance to its k-th nearest neighbour in the same set.

* precision (Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing
  Generative Models", NeurIPS 2019): fraction of fakes inside the real manifold
  (fidelity; low = off-manifold samples).
* recall (same paper): fraction of reals inside the fake manifold (diversity; low = mode
  dropping). Fake outliers inflate the fake balls, so recall overrates sparse fakes.
* density (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models",
  ICML 2020): mean number of real balls containing a fake, divided by k; about 1 when
  fakes match the real distribution, above 1 when they crowd dense real regions. Robust to
  real outliers, unlike precision, and not capped at 1.
* coverage (same paper): fraction of reals whose ball contains at least one fake (diversity,
  built from real balls only, so robust to fake outliers).

The definitions and conventions follow Naeem et al.'s reference implementation, the
``prdc`` package (github.com/clovaai/generative-evaluation-prdc, v0.2), exactly:
Euclidean distances; a radius is the (k+1)-th smallest distance of a row that includes the
point's own zero distance (= k-th nearest other point, duplicates counted); membership is
strict (``distance < radius``). Unlike ``prdc`` (whose ``argpartition`` needs k <= N - 2),
k = N - 1 is allowed.

Distances are computed in row blocks (a 50k x 50k matrix never exists), in float64 by
default, with the ||x||^2 + ||y||^2 - 2 x.y expansion after centring both sets on the real
mean (distances are translation invariant; centring removes most of the cancellation that
the common offset of non-negative Inception features would cause in that expansion).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

__all__ = ["PRDC", "prdc"]


def _check(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} features must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(
            f"{name} features must be an (N, D) matrix, got shape {tuple(x.shape)}; "
            "flatten pooled features to (N, D) first"
        )
    if x.shape[1] == 0:
        raise ValueError(f"{name} features have zero dimensions (shape {tuple(x.shape)})")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} features contain NaN or inf; fix the feature extraction")


def _distances(x: Tensor, x_sq: Tensor, y: Tensor, y_sq: Tensor) -> Tensor:
    """Euclidean distances (len(x), len(y)) from precomputed squared norms."""
    d2 = torch.addmm(y_sq.unsqueeze(0), x, y.T, beta=1.0, alpha=-2.0)
    d2 += x_sq.unsqueeze(1)
    return d2.clamp_min_(0.0).sqrt_()


def _radii(x: Tensor, x_sq: Tensor, k: int, block: int) -> Tensor:
    """Distance of each row of ``x`` to its k-th nearest other row (the prdc convention).

    The self-distance is set to exactly 0 (as sklearn does for X is Y) and the (k+1)-th
    smallest value of each full row is taken, so duplicates of a point count as neighbours.
    """
    n = x.shape[0]
    out = torch.empty(n, dtype=x.dtype, device=x.device)
    for start in range(0, n, block):
        stop = min(start + block, n)
        d = _distances(x[start:stop], x_sq[start:stop], x, x_sq)
        rows = torch.arange(stop - start, device=x.device)
        d[rows, rows + start] = 0.0
        out[start:stop] = torch.topk(d, k + 1, dim=1, largest=False, sorted=True).values[:, -1]
    return out


@torch.no_grad()
def prdc(
    real: Tensor,
    fake: Tensor,
    k: int = 5,
    block: int = 512,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Improved precision/recall and density/coverage of ``fake`` against ``real``.

    Args:
        real: (N, D) real features (e.g. 2048-d Inception pool features).
        fake: (M, D) generated features from the same feature network.
        k: nearest neighbour defining the ball radii (5 in both papers and StudioGAN);
            needs k < N and k < M.
        block: rows per distance block; peak memory is about 2 * block * max(N, M)
            elements of ``dtype`` plus boolean masks (block=512, 50k samples, float64:
            ~0.5 GB).
        dtype: compute dtype; float64 (default) matches the ``prdc`` package to the last
            decision; float32 is faster on CPU and rarely flips a borderline comparison.
        device: where to compute (default: ``real``'s device); both inputs are moved there.

    Returns:
        ``{"precision", "recall", "density", "coverage"}`` as Python floats.
    """
    _check("real", real)
    _check("fake", fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake feature sizes differ ({real.shape[1]} vs {fake.shape[1]}): "
            "extract both with the same feature network and layer"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
    n, m = real.shape[0], fake.shape[0]
    for name, count in (("real", n), ("fake", m)):
        if count < 2:
            raise ValueError(
                f"need at least 2 {name} samples for a nearest-neighbour radius, got {count}"
            )
        if k >= count:
            raise ValueError(
                f"k={k} needs more than k {name} samples, got {count}: use k <= {count - 1} "
                f"or pass at least {k + 1} {name} samples"
            )

    device = real.device if device is None else torch.device(device)
    # Shift by the real mean (in float64 whatever ``dtype``) before the norm expansion.
    shift = real.to(device=device, dtype=torch.float64).mean(0)
    x = (real.to(device=device, dtype=torch.float64) - shift).to(dtype)
    y = (fake.to(device=device, dtype=torch.float64) - shift).to(dtype)
    x_sq = x.square().sum(1)
    y_sq = y.square().sum(1)

    real_r = _radii(x, x_sq, k, block)
    fake_r = _radii(y, y_sq, k, block)

    # Real rows against all fakes, the orientation of prdc's (real, fake) matrix: a real's
    # row here is computed exactly like its row in ``_radii``, so for fake == real the
    # k-th neighbour sits exactly on the boundary (not inside) in both, and density is 1.
    fake_in_real = torch.zeros(m, dtype=torch.bool, device=device)  # fakes in >= 1 real ball
    real_hits = torch.zeros((), dtype=torch.int64, device=device)  # (fake, real ball) pairs
    recalled = torch.zeros((), dtype=torch.int64, device=device)  # reals in >= 1 fake ball
    covered = torch.zeros((), dtype=torch.int64, device=device)  # reals with a fake inside
    for start in range(0, n, block):
        stop = min(start + block, n)
        d = _distances(x[start:stop], x_sq[start:stop], y, y_sq)  # (reals, fakes)
        radius = real_r[start:stop].unsqueeze(1)
        inside = d < radius
        fake_in_real |= inside.any(0)
        real_hits += inside.sum()
        recalled += (d < fake_r.unsqueeze(0)).any(1).sum()
        covered += (d.min(1, keepdim=True).values < radius).sum()

    return {
        "precision": fake_in_real.sum().item() / m,
        "recall": recalled.item() / n,
        "density": real_hits.item() / (k * m),
        "coverage": covered.item() / n,
    }


class PRDC(Metric):
    """Real and generated features accumulated like KID's (list states concatenated
    across DDP ranks at ``compute``), then scored by ``prdc`` once on the whole sets.

    Every rank should ``update`` both sets at least once, with a possibly empty (0, D)
    tensor when it holds none, so the gather sees a matrix on every rank.
    """

    full_state_update = False

    def __init__(self, k: int = 5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k = k
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, features: Tensor, real: bool) -> None:
        (self.real_features if real else self.fake_features).append(features.float())

    def compute(self) -> dict[str, float]:
        return prdc(dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features), self.k)
