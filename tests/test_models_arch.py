"""``place_extra``: one block slot's extra layer goes where its placement says."""

import functools

import pytest
import torch
from torch import nn

from an_lightning.models.arch import place_extra
from an_lightning.models.conditions import ConditionedLayer, bind
from an_lightning.models.spec import LayerSpec


class Block(nn.Module):
    def __init__(self, channels: int, extra: nn.Module | None = None) -> None:
        super().__init__()
        self.conv, self.extra = nn.Conv2d(channels, channels, 1), extra


def bound(spec):
    return bind(spec, 3, 8, nn.Embedding)


def build(spec):
    torch.manual_seed(0)
    block, after = place_extra(spec, 4, bound, functools.partial(Block, 4))
    return block, after, torch.rand(())  # the RNG state after building


@pytest.mark.parametrize("placement", ["in_block", "after_block"])
def test_the_layer_sits_where_placement_says(placement):
    block, after, _ = build(LayerSpec("an", {"n": 2}, placement=placement))
    layers = [block.extra] if placement == "in_block" else after
    assert len(layers) == 1 and isinstance(layers[0], ConditionedLayer)
    assert (block.extra is None) == (placement == "after_block")
    assert len(after) == (placement == "after_block")


def test_no_spec_means_no_layer():
    block, after, _ = build(None)
    assert block.extra is None and after == []


def test_in_block_layer_draws_before_the_block_after_block_after_it():
    """The order G and D always drew in, so seeded weights stay what they were."""

    def an_layer():
        factory, cond = bound(LayerSpec("an", {"n": 2}))
        return ConditionedLayer(factory(4), cond)

    for placement in ("in_block", "after_block"):
        block, after, rng = build(LayerSpec("an", {"n": 2}, placement=placement))
        torch.manual_seed(0)
        if placement == "in_block":
            first, second = an_layer(), Block(4)
            layer = block.extra
        else:
            second, first = Block(4), an_layer()
            layer = after[0]
        assert torch.equal(layer.norm.layout.weight, first.norm.layout.weight)
        assert torch.equal(block.conv.weight, second.conv.weight)
        assert torch.equal(rng, torch.rand(()))
