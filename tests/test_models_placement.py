"""Every registered norm runs, and trains, in every place the configuration can put it;
extra layers sit exactly where ``placement`` says (inside the block after its first
conv, or after the whole block)."""

import pytest
import torch

from an_lightning.models import Discriminator, Generator, LayerSpec, NormSpec
from an_lightning.models.conditions import ConditionedLayer
from an_lightning.norms import norm_class, norm_names, regularization_loss, set_generator
from an_lightning.viz.layouts import network_layouts

CLASSES, CH = 5, 4
OPTIONS = {"an": {"n": 4}, "spade": {"hidden": 8}}  # small; late options come from the net
G_RES, D_RES = (8, 16, 32), (16, 8)  # block output resolutions of the 32 px nets


PLACEMENTS = ("in_block", "after_block")


def spec(name: str, placement: str = "after_block") -> LayerSpec:
    return LayerSpec(name, OPTIONS.get(name, {}), placement=placement)


def extra_layer(net: torch.nn.Module, index: int, placement: str) -> torch.nn.Module:
    """The extra layer of block ``index``, checking that it is where ``placement`` says."""
    block, stages = net.blocks[index], net.after[index]
    if placement == "in_block":
        assert isinstance(block.extra, ConditionedLayer)
        assert not any(isinstance(s, ConditionedLayer) for s in stages)
        return block.extra
    assert block.extra is None and isinstance(stages[0], ConditionedLayer)
    return stages[0]


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


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("res", G_RES)
@pytest.mark.parametrize("name", norm_names())
def test_every_norm_as_generator_extra(name, res, placement):
    torch.manual_seed(0)
    extra = {res: spec(name, placement)}
    g = Generator(resolution=32, num_classes=CLASSES, z_dim=8, ch=CH, extra=extra)
    assert isinstance(extra_layer(g, G_RES.index(res), placement).norm, norm_class(name))
    run_g(g)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("res", D_RES)
@pytest.mark.parametrize("name", norm_names())
def test_every_norm_as_discriminator_extra(name, res, placement):
    torch.manual_seed(0)
    extra = {res: spec(name, placement)}
    d = Discriminator(resolution=32, num_classes=CLASSES, ch=CH, embed_dim=4, extra=extra)
    assert isinstance(extra_layer(d, D_RES.index(res), placement).norm, norm_class(name))
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
    with pytest.raises(ValueError, match=r"unknown norm 'batchnorm'.*an, an_official, bn, cbn"):
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


# --- where the extra layer sits ----------------------------------------------------

AN4 = {"n": 4}
G_KW = dict(resolution=32, num_classes=CLASSES, z_dim=8, ch=CH)
D_KW = dict(resolution=32, num_classes=CLASSES, ch=CH, embed_dim=4)
G_KEY, D_KEY = 16, 8  # G: block 1 (16x16 output); D: block 1 (16x16 input, 8x8 output)
AN_PARAMS = (
    261  # AN, n = 4, on 16 channels: layout 64 + k, q 2 x 32 + beta, alpha 2 x 64 + t 4 + rho
)


def g_net(placement: str | None) -> Generator:
    torch.manual_seed(0)
    extra = None if placement is None else {G_KEY: LayerSpec("an", AN4, placement=placement)}
    return Generator(**G_KW, extra=extra)


def d_net(placement: str | None) -> Discriminator:
    torch.manual_seed(0)
    extra = None if placement is None else {D_KEY: LayerSpec("an", AN4, placement=placement)}
    return Discriminator(**D_KW, extra=extra)


def g_run(g: Generator) -> torch.Tensor:
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    return g(z, torch.tensor([0, 1, 4]))


def d_run(d: Discriminator) -> torch.Tensor:
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return d(x, torch.tensor([0, 1, 4]))


def recorded(modules: dict[str, torch.nn.Module], fn) -> dict[str, tuple]:
    """{name: (input, output)} of each module during ``fn()``."""
    seen = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, (i[0], o)))
        for k, m in modules.items()
    ]
    try:
        fn()
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_generator_extra_sees_what_its_placement_says(placement):
    g = g_net(placement)
    block = g.blocks[1]
    layer = extra_layer(g, 1, placement)
    seen = recorded(
        {"layer": layer, "conv1": block.conv1, "norm2": block.norm2, "block": block},
        lambda: g_run(g.eval()),
    )
    assert tuple(seen["layer"][0].shape) == (3, 16, 16, 16)  # G: the block's output size
    if placement == "in_block":  # conv1 -> AN -> norm2 (+ ReLU, conv2)
        assert seen["layer"][0] is seen["conv1"][1]
        assert seen["norm2"][0] is seen["layer"][1]
    else:  # the whole block -> AN
        assert seen["layer"][0] is seen["block"][1]
        assert seen["norm2"][0] is seen["conv1"][1]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_discriminator_extra_sees_what_its_placement_says(placement):
    d = d_net(placement)
    block = d.blocks[1]
    layer = extra_layer(d, 1, placement)
    seen = recorded(
        {"layer": layer, "conv1": block.conv1, "norm2": block.norm2, "block": block},
        lambda: d_run(d.eval()),
    )
    if placement == "in_block":  # D pools at the block's end: AN sees its INPUT size
        assert tuple(seen["layer"][0].shape) == (3, 16, 16, 16)
        assert seen["layer"][0] is seen["conv1"][1]
        assert seen["norm2"][0] is seen["layer"][1]
    else:
        assert tuple(seen["layer"][0].shape) == (3, 16, 8, 8)
        assert seen["layer"][0] is seen["block"][1]
        assert seen["norm2"][0] is seen["conv1"][1]


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_both_placements():
    g = {p: count(g_net(p)) for p in (None, *PLACEMENTS)}
    d = {p: count(d_net(p)) for p in (None, *PLACEMENTS)}
    assert g == {None: 18467, "in_block": 18728, "after_block": 18728}
    assert d == {None: 17701, "in_block": 17962, "after_block": 17962}
    assert count(extra_layer(g_net("in_block"), 1, "in_block")) == AN_PARAMS
    assert g["in_block"] - g[None] == d["in_block"] - d[None] == AN_PARAMS


def test_after_block_state_dict_keys_are_unchanged():
    """Checkpoints of after-block models (and of configs without ``placement``) still load."""
    torch.manual_seed(0)
    old = Generator(**G_KW, extra={G_KEY: NormSpec("an", AN4)})  # a plain NormSpec: after
    keys = set(old.state_dict())
    assert "after.1.0.norm.layout.weight" in keys and not any(".extra." in k for k in keys)
    assert keys == set(g_net("after_block").state_dict())
    g_net("after_block").load_state_dict(old.state_dict())
    inside = set(g_net("in_block").state_dict())
    assert "blocks.1.extra.norm.layout.weight" in inside and not any("after." in k for k in inside)


@pytest.mark.parametrize("net", ["G", "D"])
def test_rho_zero_in_block_is_the_plain_network_and_placement_matters_once_it_is_not(net):
    make, run = (g_net, g_run) if net == "G" else (d_net, d_run)
    plain, inside, after = make(None).eval(), make("in_block").eval(), make("after_block")
    missing, unexpected = inside.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith("blocks.1.extra.") for k in missing)
    after.load_state_dict(  # the same weights, AN moved after the block
        {k.replace("blocks.1.extra.", "after.1.0."): v for k, v in inside.state_dict().items()}
    )
    after.eval()
    with torch.no_grad():
        reference = run(plain)
        assert torch.equal(run(inside), reference)  # rho = 0: AN(X) = X
        assert torch.equal(run(after), reference)
        for m in (inside, after):
            m.apply(lambda mod: mod.rho.fill_(0.7) if isinstance(mod, norm_class("an")) else None)
        out_in, out_after = run(inside), run(after)
    assert not torch.allclose(out_in, reference, atol=1e-4)
    assert not torch.allclose(out_in, out_after, atol=1e-4)


def test_in_block_layers_are_found_by_the_network_walkers():
    g, d = g_net("in_block"), d_net("in_block")
    for net in (g, d):
        assert regularization_loss(net) is not None
        assert set_generator(net, torch.Generator(), kind=norm_class("an")) == 1
    z, y = torch.randn(2, 8), torch.tensor([0, 3])
    _, found = network_layouts(g, z, y, d)
    assert {k: tuple(v.shape) for k, v in found.items()} == {
        "G.blocks.1.extra.norm": (2, 4, 16, 16),
        "D.blocks.1.extra.norm": (2, 4, 16, 16),
    }
