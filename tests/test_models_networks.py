"""32 / 64 / 128 px G and D: build, shapes, ranges, spectral norm, conditioning."""

import io

import pytest
import torch
from torch.nn.utils import parametrize

from an_lightning.models import D_ARCH, G_ARCH, Discriminator, Generator, NormSpec

CLASSES = 7


def own_layers(net: torch.nn.Module):
    """Conv / linear / embedding layers the network built itself (not inside norms)."""
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding)
    inside_norms = {
        id(m)
        for name, n in net.named_modules()
        if "norm" in name.rsplit(".", 1)[-1]
        for m in n.modules()
    }
    return [m for m in net.modules() if isinstance(m, kinds) and id(m) not in inside_norms]


@pytest.mark.parametrize("res", [32, 64])
def test_small_resolutions_build_and_run(res):
    torch.manual_seed(0)
    g = Generator(resolution=res, num_classes=CLASSES, z_dim=16, ch=8)
    d = Discriminator(resolution=res, num_classes=CLASSES, ch=8, embed_dim=8)
    z, y = torch.randn(2, 16), torch.tensor([1, 6])
    x = g(z, y)
    assert x.shape == (2, 3, res, res)
    assert d(x, y).shape == (2,)
    assert len(g.blocks) == len(G_ARCH[res].out_mult) and len(d.blocks) == len(D_ARCH[res].out_mult)


def test_generator_output_is_in_tanh_range():
    torch.manual_seed(0)
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=16, ch=8)
    x = g(10 * torch.randn(4, 16), torch.arange(4))
    assert x.abs().max() <= 1.0 and x.std() > 0


def test_spectral_norm_in_discriminator_not_in_generator_by_default():
    g = Generator(resolution=32, num_classes=CLASSES, ch=4)
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=4, conditioning="projection")
    d_layers, g_layers = own_layers(d), own_layers(g)
    assert len(d_layers) == 4 * 2 + 2 + 1 + 1  # 4 x 2 convs, 2 down-shortcuts, FC, embedding
    assert all(parametrize.is_parametrized(m, "weight") for m in d_layers)
    assert len(g_layers) == 1 + 3 * 3 + 1  # FC, 3 blocks x (2 convs + shortcut), out conv
    assert not any(parametrize.is_parametrized(m) for m in g.modules())
    g_sn = Generator(resolution=32, num_classes=CLASSES, ch=4, spectral_norm=True)
    assert all(parametrize.is_parametrized(m, "weight") for m in own_layers(g_sn))
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
        ValueError, match=r"no generator architecture for resolution 256; supported: 32, 64, 128"
    ):
        Generator(resolution=256)
    with pytest.raises(ValueError, match=r"conditioning must be 'concat' or 'projection'"):
        Discriminator(resolution=32, conditioning="hinge")


def test_sample_is_reproducible():
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=16, ch=4).eval()
    x1, y1 = g.sample(3, generator=torch.Generator().manual_seed(1))
    x2, y2 = g.sample(3, generator=torch.Generator().manual_seed(1))
    assert x1.shape == (3, 3, 32, 32) and y1.shape == (3,) and y1.max() < CLASSES
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, y3 = g.sample(2, y=torch.tensor([4, 4]))
    assert x3.shape == (2, 3, 32, 32) and y3.tolist() == [4, 4]


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


def test_init_follows_sngan():
    """Glorot-uniform, gain sqrt(2) in residual branches, 1 elsewhere; zero biases."""
    torch.manual_seed(0)
    g = Generator(resolution=64, num_classes=CLASSES, ch=16)

    def glorot_bound(w, gain):
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        return gain * (6.0 / (fan_in + fan_out)) ** 0.5

    w = g.blocks[1].conv1.weight
    assert w.abs().max() <= glorot_bound(w, 2**0.5) and w.abs().max() > 0.9 * glorot_bound(
        w, 2**0.5
    )
    w = g.blocks[1].shortcut.weight
    assert w.abs().max() <= glorot_bound(w, 1.0) and w.abs().max() > 0.9 * glorot_bound(w, 1.0)
    assert torch.all(g.blocks[1].conv1.bias == 0)


@pytest.mark.parametrize("norm", ["cbn", "spade"])
def test_one_hot_class_weights_reproduce_integer_labels(norm):
    g = Generator(32, num_classes=4, z_dim=8, ch=4, block_norm=NormSpec(norm)).eval()
    for m in g.modules():  # cbn starts with equal classes (gain 1, bias 0)
        if isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight)
    z, y = torch.randn(3, 8), torch.tensor([0, 3, 1])
    soft = torch.nn.functional.one_hot(y, 4).float()
    assert torch.allclose(g(z, soft), g(z, y), atol=1e-6)
    mid = 0.5 * soft + 0.5 * torch.nn.functional.one_hot(torch.tensor([2, 2, 2]), 4)
    assert not torch.allclose(g(z, mid), g(z, y), atol=1e-3)
