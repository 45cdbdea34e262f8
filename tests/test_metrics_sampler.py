"""Generator samplers: seeded, eval mode, and usable by the suite end to end."""

import math

import torch
from torch import nn

from an_lightning.metrics.features import InceptionFeatures
from an_lightning.metrics.frechet import GaussianStats
from an_lightning.metrics.reference import ReferenceStats
from an_lightning.metrics.sampler import ema_sampler, generator_sampler
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
