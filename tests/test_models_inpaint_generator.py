"""The two-stage inpainting generator against the supplementary's layer list."""

import pytest
import torch
from torch import nn

from an_lightning.models import InpaintGenerator, NormSpec
from an_lightning.models.inpaint.stage import ConvELU
from an_lightning.norms import SPADE, AttentiveNorm, Identity, SelfAttention

# (kernel, filters, stride, dilation, ELU after it, output side as a fraction of the input),
# copied from the AN supplementary, section 2, not from the package's tables.
ENCODER = [(5, 32, 1, 1, True, 1), (3, 64, 2, 1, True, 2), (3, 64, 1, 1, True, 2)]
ENCODER += [(3, 128, 2, 1, True, 4), (3, 128, 1, 1, True, 4)]
BOTTLENECK = [(3, 128, 1, d, True, 4) for d in (2, 4, 8, 16)]
DECODER1 = [(3, 64, 1, 1, True, 2), (3, 64, 1, 1, True, 2), (3, 32, 1, 1, True, 1)]
DECODER1 += [(3, 16, 1, 1, True, 1), (3, 3, 1, 1, False, 1)]
ATTENTIVE = [(3, 128, 1, 1, False, 4), (3, 128, 1, 1, True, 4), (3, 128, 1, 1, True, 4)]
DECODER2 = [(3, 128, 1, 1, True, 4), (3, 128, 1, 1, True, 4), *DECODER1]
SPEC = {
    "coarse_encoder": ENCODER,
    "coarse_bottleneck": BOTTLENECK,
    "coarse_decoder": DECODER1,
    "attentive_encoder": ENCODER,
    "attentive": ATTENTIVE,
    "refine_encoder": ENCODER,
    "refine_bottleneck": BOTTLENECK,
    "refine_decoder": DECODER2,
}
SIDE = 32


def inputs(batch: int = 2, side: int = SIDE):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, side, side, generator=g) * 2 - 1
    mask = torch.zeros(batch, 1, side, side)
    mask[:, :, side // 4 : side // 2, side // 4 : 3 * side // 4] = 1
    return image, mask


def test_every_layer_matches_the_supplementary():
    g = InpaintGenerator(NormSpec("an", {"n": 4}))
    seen: dict[str, list] = {name: [] for name in SPEC}

    def hook(name):
        def record(module, args, out):
            conv = module.conv
            act = isinstance(module.act, nn.ELU)
            k, s, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
            seen[name].append((k, conv.out_channels, s, d, act, SIDE // out.shape[-1]))
            assert out.shape[-2:] == (SIDE // (SIDE // out.shape[-1]),) * 2

        return record

    for name in SPEC:
        for m in getattr(g, name).modules():
            if isinstance(m, ConvELU):
                m.register_forward_hook(hook(name))
    image, mask = inputs()
    coarse, final = g(image, mask)
    assert seen == SPEC
    assert coarse.shape == final.shape == image.shape
    # Input layouts: [C, ones, M] = 5 channels, then concat(coarse, X) = 8 channels.
    assert g.coarse_encoder.layers[0].conv.in_channels == 5
    assert g.attentive_encoder.layers[0].conv.in_channels == 8
    assert g.refine_encoder.layers[0].conv.in_channels == 8
    assert g.refine_decoder.layers[0].conv.in_channels == 256  # concat(a, b)


def test_the_norm_sits_between_the_first_two_attentive_convs():
    g = InpaintGenerator(NormSpec("an", {"n": 4}))
    kinds = [type(m) for m in g.attentive.layers]
    assert kinds == [ConvELU, AttentiveNorm, ConvELU, ConvELU]
    assert sum(isinstance(m, AttentiveNorm) for m in g.modules()) == 1


@pytest.mark.parametrize(
    ("name", "cls"), [("none", Identity), ("sa", SelfAttention), ("spade", SPADE)]
)
def test_the_attentive_norm_is_a_config_choice(name, cls):
    g = InpaintGenerator(NormSpec(name), width=0.25)
    assert isinstance(g.attentive.layers[1], cls)
    image, mask = inputs()
    coarse, final = g(image, mask)
    assert torch.isfinite(coarse).all() and torch.isfinite(final).all()


def test_spade_is_conditioned_on_the_mask():
    g = InpaintGenerator(NormSpec("spade"), width=0.25)
    norm = g.attentive.layers[1]
    assert norm.cond_channels == 1
    received = []
    norm.register_forward_hook(
        lambda m, args, kwargs, out: received.append(kwargs["cond"]), with_kwargs=True
    )
    image, mask = inputs()
    g(image, mask)
    assert torch.equal(received[0], mask)


def test_label_conditioned_norms_are_refused():
    with pytest.raises(ValueError, match="class labels"):
        InpaintGenerator(NormSpec("cbn"))


def test_outputs_are_clipped_to_the_image_range():
    g = InpaintGenerator(NormSpec("none"), width=0.25)
    with torch.no_grad():
        g.coarse_decoder.layers[-1].conv.bias.fill_(5.0)
        g.refine_decoder.layers[-1].conv.bias.fill_(-5.0)
    coarse, final = g(*inputs())
    assert torch.all(coarse == 1.0) and torch.all(final == -1.0)


def test_hole_pixels_of_the_input_do_not_leak_in():
    g = InpaintGenerator(NormSpec("an", {"n": 4}), width=0.25).eval()
    image, mask = inputs()
    other = torch.where(mask > 0, torch.full_like(image, 0.77), image)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(g(image, mask), g(other, mask), strict=True))


def test_sides_must_be_multiples_of_four():
    g = InpaintGenerator(NormSpec("none"), width=0.25)
    image, mask = inputs(side=30)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(image, mask)
    with pytest.raises(ValueError, match="mask must be"):
        g(inputs()[0], torch.zeros(2, 1, 8, 8))
