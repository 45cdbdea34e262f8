"""The inpainting layer tables agree with what the networks built from them assume."""

import math

from an_lightning.models.inpaint.arch import (
    ATTENTIVE,
    BOTTLENECK,
    DECODER1,
    DECODER2,
    ENCODER,
    NORM,
    STRIDE,
    UP,
    Conv,
)


def test_decoders_undo_the_encoder_stride():
    assert math.prod(c.stride for c in ENCODER) == STRIDE == 4
    for decoder in (DECODER1, DECODER2):
        assert 2 ** decoder.count(UP) == STRIDE


def test_decoders_end_in_an_rgb_conv_without_activation_or_width_scaling():
    for decoder in (DECODER1, DECODER2):
        assert decoder[-1] == Conv(3, 3, act=False, fixed=True)
        assert all(not c.fixed for c in decoder[:-1] if isinstance(c, Conv))
    assert DECODER2[2:] == DECODER1


def test_bottleneck_dilations_and_attentive_branch():
    assert [c.dilation for c in BOTTLENECK] == [2, 4, 8, 16]
    assert {c.channels for c in BOTTLENECK} == {ENCODER[-1].channels}
    assert ATTENTIVE[1] == NORM and ATTENTIVE[0].act is False  # conv -> norm, no ELU between
    assert all(c.act for c in ATTENTIVE[2:])
