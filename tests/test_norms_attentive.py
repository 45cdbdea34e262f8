"""The AN layer: identity at init, SSR math, determinism, independence, gradients."""

import inspect

import pytest
import torch
import torch.nn.functional as F
from reference_an import naive_regional_norm, naive_ssr_logits

from an_lightning.norms import (
    AttentiveNorm,
    AttentiveNormBase,
    build_norm,
    regularization_loss,
    set_generator,
)
from an_lightning.norms.functional import regional_stats
from an_lightning.norms.registry import norm_options


def make_an(c: int = 16, seed: int = 0, name: str = "an", **options):
    torch.manual_seed(seed)
    return build_norm(name, c, **options)


def perturb(an, rho: float = 0.7):
    """Move the zero/one-initialised parameters so every path shows in the output."""
    with torch.no_grad():
        an.rho.fill_(rho)
        if an.beta is not None:
            an.beta.uniform_(0.5, 1.5)
            an.alpha.normal_()
        if an.t is not None:
            an.t.uniform_(0.5, 2.0)
    return an


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", ["an", "an_official"])
def test_identity_at_init(name):
    an = make_an(name=name)
    x = torch.randn(3, 16, 8, 8)
    for train in (True, False):
        an.train(train)
        assert torch.equal(an(x), x)


def test_eval_matches_paper_formula_without_ssr():
    an = perturb(make_an(c=16, n=4)).eval()
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    an.double()
    layout = torch.softmax(0.1 * an.layout(x), dim=1)
    want = x + an.rho * naive_regional_norm(x, layout, an.beta, an.alpha, eps=an.eps)
    assert (an(x) - want).abs().max().item() < 1e-10
    assert (an.last_layout - layout).abs().max().item() < 1e-12


@pytest.mark.parametrize("pool", [True, False])
def test_train_matches_paper_formula_with_ssr(pool):
    an = perturb(make_an(c=16, n=4, pool=pool)).double().train()
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    an.generator = seeded(5)
    out = an(x)
    k = an.key(x)
    k = F.max_pool2d(k, 2) if pool else k
    an.generator = seeded(5)  # replay the draw the forward pass made
    positions = an.sample_positions(2, k.shape[2] * k.shape[3])
    logits = an.layout(x) + an.t.view(1, -1, 1, 1) * naive_ssr_logits(k, an.query(x), positions)
    layout = torch.softmax(0.1 * logits, dim=1)
    want = x + an.rho * naive_regional_norm(x, layout, an.beta, an.alpha, eps=an.eps)
    assert (out - want).abs().max().item() < 1e-10


def test_paper_sampling_is_per_sample_without_replacement():
    an = make_an(n=16)
    an.generator = seeded(0)
    idx = an.sample_positions(4, 64)
    assert idx.shape == (4, 16)
    assert all(len(set(row.tolist())) == 16 for row in idx)
    assert not all(torch.equal(idx[0], row) for row in idx[1:])


def test_official_sampling_is_shared_over_the_batch():
    an = make_an(n=16, name="an_official")
    an.generator = seeded(0)
    idx = an.sample_positions(4, 64)
    assert all(torch.equal(idx[0], row) for row in idx)


def test_eval_is_deterministic_and_ignores_the_generator():
    an = perturb(make_an()).eval()
    x = torch.randn(2, 16, 8, 8)
    set_generator(an, seeded(1))
    a = an(x)
    set_generator(an, seeded(2))
    assert torch.equal(a, an(x))


def test_train_sampling_is_reproducible_from_the_generator():
    an = perturb(make_an()).train()
    x = torch.randn(2, 16, 8, 8)
    an.generator = seeded(3)
    a = an(x)
    an.generator = seeded(3)
    b = an(x)
    an.generator = seeded(4)
    c = an(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_an_official_keeps_sampling_at_eval_time():
    an = perturb(make_an(name="an_official")).eval()
    x = torch.randn(2, 16, 8, 8)
    an.generator = seeded(1)
    a = an(x)
    an.generator = seeded(2)
    assert not torch.allclose(a, an(x))


def test_per_sample_independence_in_eval():
    an = perturb(make_an()).eval()
    x = torch.randn(4, 16, 8, 8)
    y = x.clone()
    y[1:] = torch.randn(3, 16, 8, 8) * 5
    assert torch.allclose(an(x)[0], an(y)[0], atol=1e-6, rtol=0)


def test_batch_statistics_couple_the_batch_in_training_only():
    an = perturb(make_an(statistics="batch"))
    x = torch.randn(4, 16, 8, 8)
    y = x.clone()
    y[1:] = torch.randn(3, 16, 8, 8) * 5
    an.train()
    set_generator(an, seeded(0))
    a = an(x)[0]
    set_generator(an, seeded(0))
    assert not torch.allclose(a, an(y)[0], atol=1e-4)
    an.eval()  # running statistics: a sample's output ignores the rest of the batch
    alone = an(x[:1])[0]
    assert torch.equal(an(x)[0], alone) and torch.equal(an(y)[0], alone)


def test_batch_statistics_running_averages_move_towards_the_batch():
    an = perturb(make_an(statistics="batch", ssr=False)).train()
    assert an.running_mean.dtype == torch.float32 and an.running_mean.shape == (16, 16)
    x = torch.randn(4, 16, 8, 8) * 3 + 2
    layout = torch.softmax(0.1 * an.layout(x), dim=1).detach()
    mu, var = regional_stats(x, layout, an.eps, statistics="batch")
    gap_mean = (an.running_mean - mu[0]).abs().sum()
    gap_var = (an.running_var - var[0]).abs().sum()
    start = an.running_mean.clone(), an.running_var.clone()
    an(x)
    assert torch.allclose(an.running_mean, 0.9 * start[0] + 0.1 * mu[0], atol=1e-6)
    assert torch.allclose(an.running_var, 0.9 * start[1] + 0.1 * var[0], atol=1e-5)
    for _ in range(20):
        an(x)
    assert (an.running_mean - mu[0]).abs().sum() < 0.2 * gap_mean
    assert (an.running_var - var[0]).abs().sum() < 0.2 * gap_var
    an.eval()
    before = an.running_mean.clone()
    an(x)
    assert torch.equal(an.running_mean, before)  # eval does not update


def test_batch_statistics_buffers_only_when_asked():
    assert "running_mean" not in make_an().state_dict()
    assert {"running_mean", "running_var"} <= set(make_an(statistics="batch").state_dict())


@pytest.mark.parametrize("variance", ["paper", "weighted"])
def test_gradcheck(variance):
    an = perturb(make_an(c=8, n=3, variance=variance)).double()
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64, requires_grad=True)

    def fn(inp):
        an.generator = seeded(0)  # the same sample on every call of gradcheck
        return an(inp)

    for train in (False, True):
        an.train(train)
        assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


def test_orthogonality_loss_zero_for_orthonormal_rows():
    an = make_an(c=16, n=4)
    q, _ = torch.linalg.qr(torch.randn(16, 16))
    with torch.no_grad():
        an.layout.weight.copy_(q[:4].reshape(4, 16, 1, 1))
    assert an.orthogonality_loss().item() < 1e-10
    with torch.no_grad():
        an.layout.weight.mul_(2.0)
    assert an.orthogonality_loss().item() == pytest.approx(4 * 3.0**2, rel=1e-4)
    assert regularization_loss(torch.nn.Sequential(an, make_an())) is not None


def test_options_shape_the_layer():
    plain = make_an(c=32, n=8, ssr=False)
    assert plain.key is None and plain.t is None
    assert plain.layout.weight.shape == (8, 32, 1, 1)
    paper = make_an(c=32)
    assert paper.key.weight.shape == (4, 32, 1, 1) and paper.beta.shape == (32, 16)
    assert paper.eps == 1e-5 and paper.pool and paper.value is None
    official = make_an(c=32, name="an_official")
    assert official.beta is None and official.eps == 1e-7 and not official.pool
    assert official.value.weight.shape == (32, 32, 1, 1)
    assert isinstance(official, AttentiveNormBase) and isinstance(paper, AttentiveNormBase)
    assert not isinstance(official, AttentiveNorm)


def test_removed_mode_option_names_the_new_norm():
    with pytest.raises(ValueError, match=r"use \{name: an_official\}"):
        make_an(mode="official_code")
    with pytest.raises(ValueError, match="mode"):
        make_an(mode="tf")
    with pytest.raises(ValueError, match="unknown option"):
        make_an(name="an_official", mode="official_code")
    paper = make_an(mode="paper")  # old configs that spelled out the default still build
    assert torch.equal(paper.layout.weight, make_an().layout.weight)


def test_each_variant_lists_every_option_with_its_own_defaults():
    """The options live once in the base; the registry still sees all of them."""
    shared = dict(n=16, ssr=True, tau=0.1, t_init=0.1, variance="paper")
    shared |= dict(statistics="instance", keep_layout=True, layout_init="normal", momentum=0.1)
    own = {
        "an": dict(pool=True, eps=1e-5, affine=True, mode="paper"),
        "an_official": dict(pool=False, eps=1e-7, affine=False),
    }
    for name, defaults in own.items():
        options = norm_options(name)
        assert {k: p.default for k, p in options.items()} == shared | defaults
        assert list(options)[:3] == ["n", "ssr", "pool"]  # the base's order
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in options.values())


def test_an_official_clamps_t():
    an = perturb(make_an(c=8, n=4, name="an_official")).train()
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        an.t.fill_(5.0)
    an.generator = seeded(0)
    a = an(x)
    with torch.no_grad():
        an.t.fill_(1.0)
    an.generator = seeded(0)
    assert torch.equal(a, an(x))


def test_tiny_maps_do_not_break_sampling():
    an = perturb(make_an(n=16)).train()
    out = an(torch.randn(2, 16, 1, 1))  # 1 pixel, 16 entities: sampled with replacement
    assert out.shape == (2, 16, 1, 1) and torch.isfinite(out).all()


def test_layout_init_is_normal_by_default_and_torch_on_request():
    normal = make_an(c=256, n=16).layout.weight
    torch_default = make_an(c=256, n=16, layout_init="torch").layout.weight
    assert abs(normal.std().item() - 1.0) < 0.05
    assert torch_default.abs().max().item() <= 1 / 256**0.5 + 1e-6  # kaiming_uniform(a=sqrt 5)
    with pytest.raises(ValueError, match="layout_init"):
        make_an(layout_init="xavier")


def test_torch_layout_init_gives_an_almost_uniform_layout():
    x = torch.randn(2, 256, 8, 8)
    entropy = {}
    for init in ("normal", "torch"):
        an = make_an(c=256, n=16, layout_init=init).eval()
        an(x)
        s = an.last_layout
        entropy[init] = (
            -(s * s.clamp_min(1e-30).log()).sum(1).mean() / torch.log(torch.tensor(16.0))
        ).item()
    assert entropy["torch"] > 0.999 and entropy["normal"] < 0.95


def test_an_official_init_follows_tf_defaults():
    an = make_an(c=64, n=8, name="an_official")
    for conv in (an.key, an.query, an.value):
        assert conv.bias is not None and torch.equal(conv.bias, torch.zeros_like(conv.bias))
        fan_in, fan_out = conv.weight.shape[1], conv.weight.shape[0]
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert conv.weight.abs().max().item() <= bound
        assert conv.weight.abs().max().item() > 0.9 * bound
    assert an.layout.bias is None and abs(an.layout.weight.std().item() - 1.0) < 0.15
    paper = make_an(c=64, n=8)
    assert paper.key.bias is None and paper.query.bias is None


def test_init_is_reproducible_from_the_global_seed():
    for name in ("an", "an_official"):
        a, b = make_an(name=name, seed=7), make_an(name=name, seed=7)
        c = make_an(name=name, seed=8)
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), key
        assert not torch.equal(a.layout.weight, c.layout.weight)


def test_old_an_official_checkpoints_are_refused_clearly():
    an = make_an(name="an_official")
    old = {k: v for k, v in an.state_dict().items() if k not in ("key.bias", "query.bias")}
    net = torch.nn.Sequential(an)
    with pytest.raises(RuntimeError, match=r"no 0\.key\.bias"):
        net.load_state_dict({f"0.{k}": v for k, v in old.items()})
    with pytest.raises(RuntimeError, match="zero tensors"):
        an.load_state_dict(old, strict=False)
    old.update({k: torch.zeros(an.key.bias.shape) for k in ("key.bias", "query.bias")})
    an.load_state_dict(old)  # the documented upgrade path
    an.load_state_dict(make_an(name="an_official", seed=1).state_dict())
