"""Every registered norm runs, and trains, in every place the configuration can put it."""

import pytest
import torch

from an_lightning.models import Discriminator, Generator, NormSpec
from an_lightning.norms import norm_class, norm_names

CLASSES, CH = 5, 4
OPTIONS = {"an": {"n": 4}, "spade": {"hidden": 8}}  # small; late options come from the net
G_RES, D_RES = (8, 16, 32), (16, 8)  # block output resolutions of the 32 px nets


def spec(name: str) -> NormSpec:
    return NormSpec(name, OPTIONS.get(name, {}))


def wake_zero_inits(net: torch.nn.Module) -> None:
    """AN's rho and SA's gamma start at 0, which blocks gradients to their inner layers."""
    with torch.no_grad():
        for m in net.modules():
            for pname in ("rho", "gamma"):
                if isinstance(getattr(m, pname, None), torch.nn.Parameter):
                    getattr(m, pname).fill_(0.5)


def check_gradients(net: torch.nn.Module, out: torch.Tensor, inp: torch.Tensor) -> None:
    (out * torch.randn_like(out)).sum().backward()
    assert inp.grad is not None and inp.grad.abs().sum() > 0
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} gets no gradient"


def run_g(g: Generator) -> None:
    wake_zero_inits(g)
    z, y = torch.randn(3, g.z_dim, requires_grad=True), torch.tensor([0, 1, 4])
    x = g(z, y)
    assert x.shape == (3, 3, 32, 32)
    check_gradients(g, x, z)


def run_d(d: Discriminator) -> None:
    wake_zero_inits(d)
    x, y = torch.randn(3, 3, 32, 32, requires_grad=True), torch.tensor([0, 1, 4])
    out = d(x, y)
    assert out.shape == (3,)
    check_gradients(d, out, x)


@pytest.mark.parametrize("name", norm_names())
def test_every_norm_in_generator_blocks(name):
    torch.manual_seed(0)
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=8, ch=CH, block_norm=spec(name))
    assert isinstance(g.blocks[0].norm1, norm_class(name))
    run_g(g)


@pytest.mark.parametrize("name", norm_names())
def test_every_norm_in_discriminator_blocks(name):
    torch.manual_seed(0)
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=CH, embed_dim=4, block_norm=spec(name))
    assert isinstance(d.blocks[1].norm1, norm_class(name))
    run_d(d)


@pytest.mark.parametrize("res", G_RES)
@pytest.mark.parametrize("name", norm_names())
def test_every_norm_as_generator_extra(name, res):
    torch.manual_seed(0)
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=8, ch=CH, extra={res: spec(name)})
    index = G_RES.index(res)
    assert isinstance(g.after[index][0].norm, norm_class(name))
    run_g(g)


@pytest.mark.parametrize("res", D_RES)
@pytest.mark.parametrize("name", norm_names())
def test_every_norm_as_discriminator_extra(name, res):
    torch.manual_seed(0)
    d = Discriminator(
        resolution=32, num_classes=CLASSES, ch=CH, embed_dim=4, extra={res: spec(name)}
    )
    index = D_RES.index(res)
    assert isinstance(d.after[index][0].norm, norm_class(name))
    run_d(d)


def test_extras_in_both_nets_at_several_resolutions():
    g = Generator(
        resolution=64, num_classes=CLASSES, z_dim=8, ch=CH, extra={16: spec("sa"), 32: spec("an")}
    )
    assert [len(s) for s in g.after] == [0, 1, 1, 0]
    d = Discriminator(
        resolution=64, num_classes=CLASSES, ch=CH, extra={32: spec("an"), 16: spec("sa")}
    )
    assert [len(s) for s in d.after] == [1, 2, 0, 0, 0]  # block 1: sa, then the label concat
    assert isinstance(d.after[1][0].norm, norm_class("sa"))


def test_bad_extra_resolution_names_the_available_ones():
    with pytest.raises(
        ValueError, match=r"resolution 48 .*available resolutions: 8, 16, 32, 64, 128$"
    ):
        Generator(resolution=128, num_classes=CLASSES, ch=CH, extra={48: spec("an")})
    with pytest.raises(ValueError, match=r"resolution 32 .*available resolutions: 8, 16$"):
        Discriminator(resolution=32, num_classes=CLASSES, ch=CH, extra={32: spec("an")})


def test_unknown_norm_name_or_option_fails_at_construction():
    with pytest.raises(ValueError, match=r"unknown norm 'batchnorm'.*an, bn, cbn"):
        Generator(resolution=32, ch=CH, block_norm=NormSpec("batchnorm"))
    with pytest.raises(ValueError, match=r"unknown norm 'attn'"):
        Discriminator(resolution=32, ch=CH, extra={16: NormSpec("attn")})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['entities'\]"):
        Generator(resolution=32, ch=CH, extra={16: NormSpec("an", {"entities": 8})})


def test_block_cond_reaches_the_norms():
    """cbn in G and in D: same input, other labels, other output."""
    torch.manual_seed(0)
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=8, ch=CH).eval()
    with torch.no_grad():  # make the per-class gains differ from their init of 1
        for m in g.modules():
            if isinstance(m, norm_class("cbn")):
                m.gain.weight.normal_(1.0, 0.5)
    z = torch.randn(1, 8).expand(2, -1)
    x = g(z, torch.tensor([0, 1]))
    assert not torch.allclose(x[0], x[1])
    assert torch.allclose(g(z, torch.tensor([2, 2]))[0], g(z, torch.tensor([2, 3]))[0])


def test_discriminator_block_norms_get_the_labels():
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=CH, block_norm=NormSpec("cbn"))
    conds = []
    norms = [m for m in d.modules() if isinstance(m, norm_class("cbn"))]
    assert len(norms) == 7  # 2 per pre-activation block, 1 in the optimized first block
    for m in norms:
        m.register_forward_pre_hook(lambda m, args: conds.append(args[1]))
    y = torch.tensor([4, 2])
    d(torch.randn(2, 3, 32, 32), y)
    assert len(conds) == 7 and all(torch.equal(c, y) for c in conds)


def test_spade_in_generator_blocks_gets_a_label_map():
    g = Generator(
        resolution=32,
        num_classes=CLASSES,
        z_dim=8,
        ch=CH,
        block_norm=spec("spade"),
        label_map_channels=6,
    )
    assert g.blocks[0].norm1.cond_channels == 6
    cond = g.block_cond(torch.tensor([0, 1]))
    assert cond.shape == (2, 6, 1, 1)
    assert not torch.equal(cond[0], cond[1])
