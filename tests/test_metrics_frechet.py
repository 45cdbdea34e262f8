"""Frechet distance against closed forms, and streaming moments against torch.cov."""

import math

import pytest
import torch

from an_lightning.metrics.frechet import FeatureMoments, GaussianStats, frechet_distance


def stats(mean, cov):
    return GaussianStats(torch.as_tensor(mean, dtype=torch.float64), cov.double(), 100)


def test_diagonal_gaussians_match_the_closed_form():
    """For diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(va) - sqrt(vb))^2."""
    va, vb = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.25])
    mu_a, mu_b = [0.0, 1.0, 2.0], [1.0, 1.0, -1.0]
    expected = 1 + 0 + 9 + ((va.sqrt() - vb.sqrt()) ** 2).sum().item()
    got = frechet_distance(stats(mu_a, torch.diag(va)), stats(mu_b, torch.diag(vb)))
    assert got == pytest.approx(expected, abs=1e-9)


def test_non_commuting_covariances_match_a_2x2_closed_form():
    """Tr sqrt(A B) for 2x2 PSD: sqrt(tr(AB) + 2 sqrt(det(AB)))."""
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, -0.3], [-0.3, 3.0]], dtype=torch.float64)
    ab = a @ b
    tr_sqrt = math.sqrt(ab.trace() + 2 * math.sqrt(torch.linalg.det(ab)))
    expected = (a.trace() + b.trace() - 2 * tr_sqrt).item()
    got = frechet_distance(stats([0, 0], a), stats([0, 0], b))
    assert got == pytest.approx(expected, abs=1e-9)


def test_a_set_against_itself_is_zero_and_shifts_add_squared_norm():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0)) * 3
    s = GaussianStats.from_features(x)
    assert abs(frechet_distance(s, s)) < 1e-8
    shifted = GaussianStats.from_features(x + 2)
    assert frechet_distance(s, shifted) == pytest.approx(4 * 16, rel=1e-9)


def test_moments_match_torch_cov_and_merge_like_ddp_ranks():
    x = torch.randn(301, 8, generator=torch.Generator().manual_seed(1)) * 5 + 7
    whole = FeatureMoments(8)
    for chunk in x.split(64):
        whole.update(chunk)
    got = whole.compute()
    torch.testing.assert_close(got.mean, x.double().mean(0))
    torch.testing.assert_close(got.cov, torch.cov(x.double().T))
    assert got.count == 301
    # Two "ranks": summing their states (what dist_reduce_fx="sum" does) gives the same.
    ranks = [FeatureMoments(8), FeatureMoments(8)]
    ranks[0].update(x[:100])
    ranks[1].update(x[100:])
    ranks[0].merge_state(ranks[1])
    torch.testing.assert_close(ranks[0].compute().cov, got.cov)


@pytest.mark.filterwarnings("ignore:The ..compute.. method")
def test_bad_shapes_name_the_problem():
    with pytest.raises(ValueError, match="same feature network"):
        frechet_distance(stats([0, 0], torch.eye(2)), stats([0, 0, 0], torch.eye(3)))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        FeatureMoments(4).update(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureMoments(4).compute()
