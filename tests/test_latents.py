"""Sampling latents: the untruncated prior exactly as before, truncation as in BigGAN."""

import pytest
import torch
from scipy.stats import truncnorm

from an_lightning.latents import check_truncation, draw_latents


def test_without_truncation_the_draw_is_torchs_normal_draw():
    z = draw_latents(6, 5, torch.Generator().manual_seed(3))
    assert torch.equal(z, torch.randn(6, 5, generator=torch.Generator().manual_seed(3)))


def test_truncated_latents_lie_within_the_threshold_and_follow_the_truncated_normal():
    z = draw_latents(2_000, 64, torch.Generator().manual_seed(0), truncation=0.5)
    assert z.abs().max() <= 0.5 and z.shape == (2_000, 64)
    # 128k draws: the standard error of the std is about 0.0005.
    assert abs(z.std().item() - truncnorm(-0.5, 0.5).std()) < 0.003
    assert abs(z.mean().item()) < 0.003
    again = draw_latents(2_000, 64, torch.Generator().manual_seed(0), truncation=0.5)
    assert torch.equal(z, again)  # the same stream gives the same latents
    untouched = draw_latents(2_000, 64, torch.Generator().manual_seed(0), truncation=10.0)
    assert torch.equal(untouched, draw_latents(2_000, 64, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_a_threshold_must_be_positive(bad):
    with pytest.raises(ValueError, match="--truncation must be a positive threshold"):
        check_truncation(bad, "--truncation")
    check_truncation(None)
