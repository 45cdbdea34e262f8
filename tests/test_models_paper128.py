"""The 128 px G and D against the AN paper's description (layer by layer), with AN inside
the 32x32 block after its first conv, as experiments/imagenet.yaml places it."""

from pathlib import Path

import pytest
import torch
import yaml

from an_lightning.models import Discriminator, Generator, LayerSpec
from an_lightning.norms import norm_class, regularization_loss, set_generator

CONFIG = Path(__file__).resolve().parents[1] / "experiments/imagenet.yaml"
NETS = yaml.safe_load(CONFIG.read_text())["model"]["init_args"]


def paper_extra(net: str) -> dict[int, LayerSpec]:
    """The extra layers of the paper config's ``generator`` / ``discriminator``."""
    return {int(k): LayerSpec(**v) for k, v in NETS[net]["init_args"]["extra"].items()}


AN_G, AN_D = paper_extra("generator"), paper_extra("discriminator")
EMBED = 128


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return Generator(resolution=128, num_classes=1000, extra=AN_G)


@pytest.fixture(scope="module")
def disc():
    torch.manual_seed(0)
    return Discriminator(resolution=128, num_classes=1000, embed_dim=EMBED, extra=AN_D)


def test_the_paper_config_places_an_in_the_32x32_blocks():
    for extra in (AN_G, AN_D):
        assert extra == {32: LayerSpec("an", {"n": 16}, placement="in_block")}


def run_hooked(modules, fn):
    """Outputs (and inputs) of each module during ``fn()``, in call order."""
    seen = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: seen.append((tuple(i[0].shape), tuple(o.shape))))
        for m in modules
    ]
    try:
        out = fn()
    finally:
        for h in hooks:
            h.remove()
    return seen, out


def test_generator_layer_shapes(gen):
    z, y = torch.randn(2, 128), torch.tensor([3, 999])
    an = gen.blocks[2].extra
    seen, x = run_hooked([*gen.blocks, an, gen.blocks[2].norm2], lambda: gen(z, y))
    outs = [o for _, o in seen]
    assert gen.linear.out_features == 4 * 4 * 1024
    assert outs == [
        (2, 1024, 8, 8),
        (2, 512, 16, 16),
        (2, 256, 32, 32),  # the AN layer, after the 32x32 block's first conv
        (2, 256, 32, 32),  # ... then that block's class-conditional BN
        (2, 256, 32, 32),  # the 32x32 block
        (2, 128, 64, 64),
        (2, 64, 128, 128),
    ]
    assert x.shape == (2, 3, 128, 128)
    assert isinstance(an.norm, norm_class("an"))
    assert an.norm.layout.in_channels == 256
    assert [len(s) for s in gen.after] == [0, 0, 0, 0, 0]
    assert [b.extra is an for b in gen.blocks] == [False, False, True, False, False]
    assert all(isinstance(b.norm1, norm_class("cbn")) for b in gen.blocks)


def test_discriminator_layer_shapes(disc):
    x, y = torch.randn(2, 3, 128, 128), torch.tensor([0, 7])
    an = disc.blocks[1].extra
    seen, logits = run_hooked([*disc.blocks, an], lambda: disc(x, y))
    assert [o for _, o in seen] == [
        (2, 64, 64, 64),
        (2, 128, 64, 64),  # the AN layer of the 32x32 block: 128 channels, on its 64x64 input
        (2, 128, 32, 32),  # the 32x32 block (it pools at its end)
        (2, 256, 16, 16),
        (2, 512, 8, 8),
        (2, 1024, 4, 4),
    ]
    assert seen[1][0] == (2, 128, 64, 64)  # AN gets the block's first conv's output
    assert seen[4][0] == (2, 256 + EMBED, 16, 16)  # label embedding concatenated at 16x16
    assert logits.shape == (2,)
    assert isinstance(an.norm, norm_class("an"))
    assert an.norm.layout.in_channels == 128
    assert [b.extra is an for b in disc.blocks] == [False, True, False, False, False]
    assert disc.head.linear.in_features == 1024


def test_parameter_counts(gen, disc):
    base_g = Generator(resolution=128, num_classes=1000)
    base_d = Discriminator(resolution=128, num_classes=1000)
    counts = {
        "G AN": count(gen),
        "D AN": count(disc),
        "G SN-GAN baseline": count(base_g),
        "D concat, no extra": count(base_d),
    }
    print("\n128 px parameter counts (1000 classes, ch=64):")
    for name, n in counts.items():
        print(f"  {name}: {n:,}")
    an_g = count(gen.blocks[2].extra)
    an_d = count(disc.blocks[1].extra)
    assert counts["G AN"] - counts["G SN-GAN baseline"] == an_g > 0
    assert counts["D AN"] - counts["D concat, no extra"] == an_d > 0


def test_an_regularizer_and_generator_reach_the_an_layers(gen, disc):
    for net in (gen, disc):
        loss = regularization_loss(net)
        assert loss is not None and loss.dim() == 0 and loss > 0
        rng = torch.Generator().manual_seed(0)
        set_generator(net, rng)
        an = [m for m in net.modules() if isinstance(m, norm_class("an"))]
        assert len(an) == 1 and an[0].generator is rng
        set_generator(net, None)
