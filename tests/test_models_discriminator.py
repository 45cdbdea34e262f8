"""The class-conditional ResNet discriminator: build, shapes, spectral norm, conditioning."""

import io

import pytest
import torch
from torch.nn.utils import parametrize

from an_lightning.models import D_ARCH, Discriminator, NormSpec

CLASSES = 7
LAYER_KINDS = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding)


@pytest.mark.parametrize("res", [32, 64])
def test_small_resolutions_build_and_run(res):
    torch.manual_seed(0)
    d = Discriminator(resolution=res, num_classes=CLASSES, ch=8, embed_dim=8)
    assert d(torch.randn(2, 3, res, res), torch.tensor([1, 6])).shape == (2,)
    assert len(d.blocks) == len(D_ARCH[res].out_mult)


def test_spectral_norm_in_discriminator_by_default():
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=4, conditioning="projection")
    d_layers = [m for m in d.modules() if isinstance(m, LAYER_KINDS)]  # block norms: none
    assert len(d_layers) == 4 * 2 + 2 + 1 + 1  # 4 x 2 convs, 2 down-shortcuts, FC, embedding
    assert all(parametrize.is_parametrized(m, "weight") for m in d_layers)
    d_plain = Discriminator(resolution=32, num_classes=CLASSES, ch=4, spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in d_plain.modules())


def test_spectral_norm_bounds_the_layers():
    torch.manual_seed(0)
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=4)
    for _ in range(30):  # power iterations run in train-mode forwards
        d(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    w = d.blocks[1].conv1.weight
    assert torch.linalg.matrix_norm(w.detach().flatten(1), ord=2).item() == pytest.approx(
        1.0, abs=0.05
    )


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_discriminator_conditioning(conditioning):
    torch.manual_seed(0)
    d = Discriminator(
        resolution=64, num_classes=CLASSES, ch=4, embed_dim=6, conditioning=conditioning
    )
    concat = conditioning == "concat"
    stages = [type(s).__name__ for after in d.after for s in after]
    assert stages == (["ConcatEmbedding"] if concat else [])
    assert d.blocks[2].in_channels == 8 + (6 if concat else 0)  # input of the 16x16 block
    assert type(d.head).__name__ == ("LinearHead" if concat else "ProjectionHead")
    x = torch.randn(1, 3, 64, 64).expand(2, -1, -1, -1)
    out = d(x, torch.tensor([0, 3]))
    assert out.shape == (2,) and out[0] != out[1]


def test_projection_is_linear_plus_inner_product():
    torch.manual_seed(0)
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=4, conditioning="projection")
    d.eval()
    h = torch.randn(3, 16)
    y = torch.tensor([0, 2, 5])
    expected = d.head.linear(h)[:, 0] + (d.head.embedding.weight[y] * h).sum(1)
    assert torch.allclose(d.head(h, y), expected)


def test_bad_resolution_and_conditioning():
    with pytest.raises(
        ValueError, match=r"no discriminator architecture for resolution 48; supported: 32, 64"
    ):
        Discriminator(resolution=48)
    with pytest.raises(ValueError, match=r"conditioning must be 'concat' or 'projection'"):
        Discriminator(resolution=32, conditioning="hinge")


def test_state_dict_round_trip_with_spectral_norm_and_an():
    kwargs = dict(resolution=32, num_classes=CLASSES, ch=4, extra={16: NormSpec("an", {"n": 4})})
    torch.manual_seed(0)
    d = Discriminator(**kwargs)
    d(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))  # moves SN's u away from its init
    buffer = io.BytesIO()
    torch.save(d.state_dict(), buffer)
    torch.manual_seed(1)
    other = Discriminator(**kwargs)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer))
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([2, 3])
    assert torch.equal(d.eval()(x, y), other.eval()(x, y))
