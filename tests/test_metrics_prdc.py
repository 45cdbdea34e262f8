"""Precision/recall/density/coverage against the ``prdc`` package, a hand example, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from an_lightning.metrics.prdc import prdc

KEYS = ("precision", "recall", "density", "coverage")


def _gaussians(
    n: int, m: int, d: int, seed: int, scale: float = 1.2, shift: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n, d, generator=g, dtype=torch.float64)
    # Shifted, wider fakes with a common positive offset (like non-negative Inception
    # features), so no metric sits at 0 or 1.
    fake = scale * torch.randn(m, d, generator=g, dtype=torch.float64) + shift
    return real + 5.0, fake + 5.0


def _oracle(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    compute_prdc = pytest.importorskip("prdc").compute_prdc
    out = compute_prdc(real.numpy(), fake.numpy(), nearest_k=k)  # float64 in, float64 math
    return {key: float(out[key]) for key in KEYS}


@pytest.mark.parametrize(
    ("n", "m", "d", "seed", "k", "scale", "shift"),
    [
        (300, 250, 16, 0, 1, 1.2, 0.3),
        (300, 250, 16, 0, 3, 1.2, 0.3),
        (300, 250, 16, 0, 5, 1.2, 0.3),
        (300, 250, 16, 0, 10, 1.2, 0.3),
        (200, 320, 64, 1, 5, 1.2, 0.3),
        # In 2048-d distances concentrate: a 20% wider fake set would sit outside every
        # real ball, so the fakes differ only slightly here.
        (256, 256, 2048, 2, 5, 1.0, 0.05),
        (256, 256, 2048, 2, 7, 1.02, 0.0),
    ],
)
def test_matches_prdc_package(n, m, d, seed, k, scale, shift, capsys):
    real, fake = _gaussians(n, m, d, seed, scale, shift)
    want = _oracle(real, fake, k)
    capsys.readouterr()  # compute_prdc prints the sample counts
    got = prdc(real, fake, k=k, block=64)
    for key in KEYS:
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    # Not degenerate: each number is strictly between its extremes.
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1 and 0 < got["coverage"] < 1


def test_hand_computed_1d():
    # k = 1, points on a line (the mean of the reals is 5, so every value below is exact).
    # real = 0, 1, 2, 4, 18 -> radii (distance to nearest other real) 1, 1, 1, 2, 14
    # fake = 0.5, 3, 10     -> radii (distance to nearest other fake) 2.5, 2.5, 7
    # precision: 0.5 is in ball(0, 1); 3 is in ball(4, 2) (|3-4| = 1 < 2; |3-2| = 1 is NOT
    #   < 1, strict); 10 is in ball(18, 14) (8 < 14, the real outlier's big ball) -> 3/3.
    # density: 0.5 lies in balls of reals 0 and 1 (0.5 < 1 each; 1.5 >= 1 for real 2) -> 2;
    #   3 in ball(4) only -> 1; 10 in ball(18) only -> 1; (2 + 1 + 1) / (k * M = 3) = 4/3.
    # recall: reals 0, 1, 2 are within 2.5 of fake 0.5 (0.5, 0.5, 1.5); 4 is within 2.5 of
    #   fake 3; 18 is 8 from fake 10, not < 7 -> 4/5.
    # coverage: nearest fake of 0 -> 0.5 (< 1 yes), 1 -> 0.5 (< 1 yes), 2 -> 1.5 or 3 at
    #   distance 1 (not < 1, strict: no), 4 -> 3 at 1 (< 2 yes), 18 -> 10 at 8 (< 14 yes)
    #   -> 4/5.
    real = torch.tensor([[0.0], [1.0], [2.0], [4.0], [18.0]])
    fake = torch.tensor([[0.5], [3.0], [10.0]])
    want = {"precision": 1.0, "recall": 0.8, "density": 4 / 3, "coverage": 0.8}
    assert prdc(real, fake, k=1) == pytest.approx(want, abs=1e-12)
    assert prdc(real, fake, k=1, dtype=torch.float32) == pytest.approx(want, abs=1e-12)
    # The package agrees, ties included.
    assert _oracle(real.double(), fake.double(), 1) == pytest.approx(want, abs=1e-12)


def _brute_force(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """Full-matrix reference with exact (non-matmul) distances."""
    mode = "donot_use_mm_for_euclid_dist"
    rr = torch.cdist(real, real, compute_mode=mode).sort(1).values[:, k]  # [:, 0] is self
    fr = torch.cdist(fake, fake, compute_mode=mode).sort(1).values[:, k]
    d = torch.cdist(real, fake, compute_mode=mode)  # (N, M)
    inside = d < rr[:, None]
    return {
        "precision": inside.any(0).double().mean().item(),
        "recall": (d < fr[None, :]).any(1).double().mean().item(),
        "density": inside.sum().item() / (k * fake.shape[0]),
        "coverage": (d.min(1).values < rr).double().mean().item(),
    }


@pytest.mark.parametrize("k", [1, 4, 39, 49])
def test_matches_brute_force_including_k_equal_n_minus_1(k):
    real, fake = _gaussians(50, 40 if k < 40 else 60, 8, 3)
    assert prdc(real, fake, k=k, block=7) == pytest.approx(_brute_force(real, fake, k), abs=1e-12)


def test_block_size_does_not_change_result():
    real, fake = _gaussians(203, 157, 32, 4)
    ref = prdc(real, fake, k=5, block=10_000)
    for block in (1, 3, 64, 157, 203):
        assert prdc(real, fake, k=5, block=block) == ref, block


@pytest.mark.parametrize("k", [1, 5])
def test_identical_sets(k, capsys):
    real, _ = _gaussians(300, 1, 32, 5)
    out = prdc(real, real.clone(), k=k, block=128)
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["coverage"] == 1.0
    # Each real ball strictly holds itself and k - 1 neighbours; the k-th sits exactly on
    # the boundary (strict <), so the count is k per real: density 1. Rounding could only
    # move a boundary neighbour inside, i.e. at most into [1, 1 + 1/k]; the package gives 1.
    assert 1.0 <= out["density"] <= 1.0 + 1.0 / k
    assert out["density"] == pytest.approx(1.0, abs=1e-12)
    assert _oracle(real, real.clone(), k) == pytest.approx(out, abs=1e-12)


def test_float32_inputs_and_dtype():
    real, fake = _gaussians(200, 180, 2048, 6)
    ref = prdc(real, fake)
    assert prdc(real.float(), fake.float()) == pytest.approx(ref, abs=0.02)
    assert prdc(real, fake, dtype=torch.float32) == pytest.approx(ref, abs=0.02)
    assert all(isinstance(v, float) and math.isfinite(v) for v in ref.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    real, fake = _gaussians(300, 250, 64, 7)
    ref = prdc(real, fake)
    assert prdc(real.cuda(), fake.cuda()) == pytest.approx(ref, abs=1e-6)
    assert prdc(real, fake, device="cuda") == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize(
    ("real_shape", "fake_shape", "kwargs", "match"),
    [
        ((10, 4), (10, 4), {"k": 10}, r"k=10 needs more than k real samples, got 10"),
        ((20, 4), (6, 4), {"k": 6}, r"k=6 needs more than k fake samples.*k <= 5"),
        ((10, 4), (10, 5), {}, r"feature sizes differ \(4 vs 5\)"),
        ((1, 4), (10, 4), {"k": 1}, r"at least 2 real samples"),
        ((10, 4), (0, 4), {"k": 1}, r"at least 2 fake samples"),
        ((10,), (10, 4), {}, r"\(N, D\) matrix"),
        ((10, 0), (10, 0), {}, r"zero dimensions"),
        ((10, 4), (10, 4), {"k": 0}, r"k must be a positive integer"),
        ((10, 4), (10, 4), {"k": 2.0}, r"k must be a positive integer"),
        ((10, 4), (10, 4), {"k": 2, "block": 0}, r"block must be a positive integer"),
    ],
)
def test_errors(real_shape, fake_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        prdc(torch.randn(real_shape), torch.randn(fake_shape), **kwargs)


def test_non_finite_and_non_tensor():
    x = torch.randn(10, 4)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        prdc(x, bad, k=2)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        prdc(np.zeros((10, 4)), x, k=2)
