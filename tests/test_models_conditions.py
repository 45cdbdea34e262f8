"""How a norm's ``cond`` is made from labels, and the options only the network knows."""

import pytest
import torch
from torch import nn

from an_lightning.models.conditions import (
    ConditionedLayer,
    LabelMap,
    Labels,
    Unconditional,
    bind,
    condition,
    late_options,
)
from an_lightning.models.spec import NormSpec
from an_lightning.norms import norm_class


def test_late_options_per_cond_kind():
    assert late_options("labels", 7, 3) == {"num_classes": 7}
    assert late_options("map", 7, 3) == {"cond_channels": 3}
    assert late_options(None, 7, 3) == {}


def test_condition_module_per_cond_kind():
    y = torch.tensor([2, 0])
    labels = condition("labels", 5, 3, nn.Embedding)
    assert isinstance(labels, Labels) and labels(y) is y
    unconditional = condition(None, 5, 3, nn.Embedding)
    assert isinstance(unconditional, Unconditional) and unconditional(y) is None
    label_map = condition("map", 5, 3, nn.Embedding)
    assert isinstance(label_map, LabelMap) and label_map.embedding.weight.shape == (5, 3)
    with pytest.raises(
        ValueError, match=r"^networks cannot condition a norm with cond_kind='mask'$"
    ):
        condition("mask", 5, 3, nn.Embedding)


def test_label_map_is_the_embedding_as_a_1x1_map():
    embedding = nn.Embedding(3, 2)
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    label_map = LabelMap(embedding)
    out = label_map(torch.tensor([2, 0]))
    assert out.shape == (2, 2, 1, 1)
    assert out.flatten(1).tolist() == [[5.0, 6.0], [1.0, 2.0]]
    soft = label_map(torch.tensor([[0.5, 0.5, 0.0]]))  # class weights: the rows' mixture
    assert soft.flatten().tolist() == [2.0, 3.0]


def test_bind_supplies_the_late_options():
    factory, cond = bind(NormSpec("cbn"), 4, 6, nn.Embedding)
    norm = factory(8)
    assert isinstance(norm, norm_class("cbn")) and norm.gain.weight.shape == (4, 8)
    assert isinstance(cond, Labels)
    factory, cond = bind(NormSpec("spade", {"hidden": 8}), 4, 6, nn.Embedding)
    assert factory(8).cond_channels == 6 and isinstance(cond, LabelMap)
    factory, cond = bind(NormSpec("bn"), 4, 6, nn.Embedding)
    assert isinstance(factory(8), norm_class("bn")) and isinstance(cond, Unconditional)


def test_conditioned_layer_calls_its_norm_with_its_own_cond():
    seen = []

    class Norm(nn.Module):
        def forward(self, h, cond=None):
            seen.append(cond)
            return h + 1

    class Doubled(nn.Module):
        def forward(self, y):
            return 2 * y

    layer = ConditionedLayer(Norm(), Doubled())
    out = layer(torch.zeros(1, 1, 2, 2), torch.tensor([3]))
    assert torch.equal(out, torch.ones(1, 1, 2, 2))
    assert [c.tolist() for c in seen] == [[6]]
