"""A stage built from a layer table: widths, 'same' padding, and the norm's ``cond``."""

import pytest
import torch
from torch import Tensor, nn

from an_lightning.models.inpaint.arch import NORM, UP, Conv
from an_lightning.models.inpaint.stage import ConvELU, Stage, scaled
from an_lightning.norms import Norm


def test_scaled_widths():
    assert scaled(Conv(3, 64), 0.5) == 32
    assert scaled(Conv(3, 64), 0.001) == 1  # never zero filters
    assert scaled(Conv(3, 3, fixed=True), 0.25) == 3


@pytest.mark.parametrize(("stride", "dilation", "side"), [(1, 1, 8), (1, 4, 8), (2, 1, 4)])
def test_conv_elu_pads_to_keep_the_size(stride, dilation, side):
    layer = ConvELU(2, 5, Conv(3, 5, stride=stride, dilation=dilation))
    assert layer(torch.randn(1, 2, 8, 8)).shape == (1, 5, side, side)
    assert isinstance(layer.act, nn.ELU)
    assert isinstance(ConvELU(2, 5, Conv(3, 5, act=False)).act, nn.Identity)


class Recorder(Norm):
    """Adds its cond (a scalar map) to x, so the test sees it arrived."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return x + self.require_cond(cond)


def test_stage_builds_the_table_and_gives_norms_the_cond():
    table = (Conv(3, 8), NORM, UP, Conv(3, 3, act=False, fixed=True))
    stage = Stage(2, table, width=0.5, norm=Recorder)
    assert stage.out_channels == 3
    assert [type(m).__name__ for m in stage.layers] == [
        "ConvELU",
        "Recorder",
        "Upsample",
        "ConvELU",
    ]
    assert stage.layers[1].num_features == 4
    x = torch.randn(1, 2, 4, 4)
    assert stage(x, cond=torch.zeros(())).shape == (1, 3, 8, 8)
    shifted = stage(x, cond=torch.ones(()))
    assert not torch.allclose(shifted, stage(x, cond=torch.zeros(())))
    with pytest.raises(ValueError, match="norm slot but no norm was given"):
        Stage(2, table, width=0.5)
