"""Generator samplers: seeded, eval mode, and usable by the suite end to end."""

import math

import pytest
import torch
from torch import nn

from an_lightning.metrics.features import InceptionFeatures
from an_lightning.metrics.frechet import GaussianStats
from an_lightning.metrics.reference import ReferenceStats
from an_lightning.metrics.sampler import (
    check_generators,
    ema_sampler,
    generator_sampler,
    raw_sampler,
    suffixed,
    task_sampler,
)
from an_lightning.metrics.suite import SampleCounts, evaluate_sampler
from an_lightning.models import Discriminator, Generator
from an_lightning.tasks import ClassConditionalGAN


def tiny_generator():
    torch.manual_seed(0)
    return Generator(resolution=32, num_classes=10, ch=4, z_dim=8)


def test_same_seed_same_images_other_seed_other_images():
    g = tiny_generator()
    labels = torch.tensor([0, 3, 3, 9])
    a = generator_sampler(g, seed=1)(labels)
    assert not g.training
    assert a.shape == (4, 3, 32, 32) and a.abs().max() <= 1
    torch.testing.assert_close(generator_sampler(g, seed=1)(labels), a)
    assert not torch.allclose(generator_sampler(g, seed=2)(labels), a)


def test_the_ema_generator_of_a_task_is_evaluated():
    g = tiny_generator()
    task = ClassConditionalGAN(g, Discriminator(resolution=32, num_classes=10, ch=4))
    labels = torch.arange(4)
    want = generator_sampler(task.g_ema.module, seed=0)(labels)
    torch.testing.assert_close(ema_sampler(task, seed=0)(labels), want)


def test_raw_and_ema_samplers_share_latents_and_restore_the_mode():
    g = tiny_generator()
    task = ClassConditionalGAN(g, Discriminator(resolution=32, num_classes=10, ch=4))
    labels = torch.arange(4)
    torch.testing.assert_close(raw_sampler(task, seed=3)(labels), generator_sampler(g, 3)(labels))
    task.generator.train()
    with task_sampler(task, "raw", seed=3) as sample:
        assert not task.generator.training
        first = sample(labels)
    assert task.generator.training  # TrainingFID leaves G training
    with task_sampler(task, "ema", seed=3) as sample:
        # The EMA starts as a copy of G: same weights, so the same latents give the same images.
        torch.testing.assert_close(sample(labels), first)
    with pytest.raises(ValueError, match="generators must be distinct names"):
        check_generators(["raw", "raw"])


def test_suffixed_keeps_shared_keys_once_and_puts_generators_side_by_side():
    raw = {"feature_network": "net", "n_fid": 10, "fid": 3.0, "kid_mean": 0.1, "intra_fid/2": 5.0}
    ema = {**raw, "fid": 2.0, "kid_mean": 0.2, "intra_fid/2": 4.0}
    assert list(suffixed({"raw": raw, "ema": ema}).items()) == [
        ("feature_network", "net"),
        ("n_fid", 10),
        ("fid/raw", 3.0),
        ("fid/ema", 2.0),
        ("kid_mean/raw", 0.1),
        ("kid_mean/ema", 0.2),
        ("intra_fid/2/raw", 5.0),
        ("intra_fid/2/ema", 4.0),
    ]
    assert suffixed({"ema": ema})["fid/ema"] == 2.0


class ChannelStats(nn.Module):
    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


def test_a_generator_gets_a_finite_fid():
    features = InceptionFeatures(ChannelStats(), "channel-stats", num_features=6)
    real = features(torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8))["pool"]
    ref = ReferenceStats("toy", features.name, GaussianStats.from_features(real))
    got = evaluate_sampler(
        generator_sampler(tiny_generator()), 10, features, ref, SampleCounts(fid=20, batch_size=10)
    )
    assert math.isfinite(got["fid"]) and got["fid"] > 0
