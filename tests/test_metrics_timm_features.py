"""timm backbones: a clear skip message without timm, and the wiring with a stand-in timm."""

import importlib.machinery
import importlib.util
import types

import pytest
import torch
from torch import nn

from an_lightning.metrics.features import load_feature_network


@pytest.mark.skipif(importlib.util.find_spec("timm") is not None, reason="timm is installed")
def test_without_timm_the_error_says_it_is_skipped():
    with pytest.raises(ModuleNotFoundError, match="timm Frechet distance is skipped"):
        load_feature_network("timm:vit_small_patch14_dinov2")


class Backbone(nn.Module):
    num_features = 5

    def __init__(self):
        super().__init__()
        self.pretrained_cfg = {"input_size": (3, 24, 20), "mean": (0.5,) * 3, "std": (0.25,) * 3}
        self.conv = nn.Conv2d(3, 5, 3)
        self.seen = None

    def forward(self, x):
        self.seen = x
        return self.conv(x).mean((2, 3))


def test_a_timm_backbone_gets_its_own_size_and_normalisation(monkeypatch):
    created = {}

    def create_model(name, pretrained, num_classes):
        assert pretrained and num_classes == 0  # headless, pretrained
        created[name] = Backbone()
        return created[name]

    fake = types.ModuleType("timm")
    fake.__spec__ = importlib.machinery.ModuleSpec("timm", None)
    fake.create_model = create_model
    monkeypatch.setitem(__import__("sys").modules, "timm", fake)

    feats = load_feature_network("timm:tiny")
    assert feats.name == "timm:tiny" and feats.num_features == 5
    out = feats(torch.full((2, 3, 16, 16), 1.0))["pool"]  # white images
    assert out.shape == (2, 5)
    seen = created["tiny"].seen
    assert seen.shape == (2, 3, 24, 20)
    torch.testing.assert_close(seen, torch.full_like(seen, 2.0))  # (1 - 0.5) / 0.25
