"""regional_norm against the literal Algorithm 1, and its memory/precision promises."""

import inspect

import pytest
import torch
from reference_an import naive_regional_norm
from torch.utils._python_dispatch import TorchDispatchMode

from an_lightning.norms.functional import (
    apply_regional,
    orthogonality_loss,
    regional_affine,
    regional_norm,
)


def random_layout(b: int, n: int, h: int, w: int, sharpness: float = 3.0) -> torch.Tensor:
    return torch.softmax(sharpness * torch.randn(b, n, h, w, dtype=torch.float64), dim=1)


def one_hot_layout(b: int, n: int, h: int, w: int) -> torch.Tensor:
    labels = torch.randint(0, n, (b, h, w))
    return torch.nn.functional.one_hot(labels, n).permute(0, 3, 1, 2).double()


@pytest.mark.parametrize("variance", ["paper", "weighted"])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("statistics", ["instance", "batch"])
@pytest.mark.parametrize("official_mean", [False, True])
def test_matches_algorithm_1(variance, affine, statistics, official_mean):
    torch.manual_seed(0)
    b, c, n, h, w = 3, 5, 4, 6, 7
    x = torch.randn(b, c, h, w, dtype=torch.float64) * 2 + 0.5
    layout = random_layout(b, n, h, w)
    beta = torch.rand(c, n, dtype=torch.float64) + 0.5 if affine else None
    alpha = torch.randn(c, n, dtype=torch.float64) if affine else None
    kwargs = dict(eps=1e-5, variance=variance, statistics=statistics, official_mean=official_mean)
    got = regional_norm(x, layout, beta, alpha, **kwargs)
    want = naive_regional_norm(x, layout, beta, alpha, **kwargs)
    assert got.dtype == torch.float64
    assert (got - want).abs().max().item() < 1e-6


@pytest.mark.parametrize("variance", ["paper", "weighted"])
def test_matches_algorithm_1_on_hard_layouts(variance):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    layout = one_hot_layout(2, 5, 8, 8)
    got = regional_norm(x, layout, variance=variance)
    want = naive_regional_norm(x, layout, variance=variance)
    assert (got - want).abs().max().item() < 1e-6


@pytest.mark.parametrize("variance", ["paper", "weighted"])
@pytest.mark.parametrize("statistics", ["instance", "batch"])
def test_gradients_match_autograd_of_algorithm_1(variance, statistics):
    """The hand-written backward passes: first and second derivatives, every input."""
    torch.manual_seed(5)
    b, c, n, h, w = 2, 3, 4, 3, 4
    x = torch.randn(b, c, h, w, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(b, n, h, w, dtype=torch.float64, requires_grad=True)
    beta = (torch.rand(c, n, dtype=torch.float64) + 0.5).requires_grad_()
    alpha = torch.randn(c, n, dtype=torch.float64, requires_grad=True)
    inputs = (x, logits, beta, alpha)

    def fn(x, logits, beta, alpha):
        layout = torch.softmax(logits, dim=1)
        return regional_norm(x, layout, beta, alpha, variance=variance, statistics=statistics)

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)
    weights = torch.randn(b, c, h, w, dtype=torch.float64)
    got = torch.autograd.grad((fn(*inputs) * weights).sum(), inputs)
    ref = naive_regional_norm(
        x, torch.softmax(logits, 1), beta, alpha, variance=variance, statistics=statistics
    )
    want = torch.autograd.grad((ref * weights).sum(), inputs)
    for g, r in zip(got, want, strict=True):
        assert (g - r).abs().max().item() < 1e-8


def test_apply_regional_residual_and_gradients():
    torch.manual_seed(6)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    layout = torch.softmax(torch.randn(2, 5, 4, 4, dtype=torch.float64), 1).requires_grad_()
    scale = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    shift = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    res = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    out = apply_regional(x, layout, scale, shift, residual=res)
    s = layout.flatten(2)
    want = x.flatten(2) * (scale @ s) + shift @ s + res.flatten(2)
    assert (out.flatten(2) - want).abs().max().item() < 1e-12
    assert torch.autograd.gradcheck(
        lambda *a: apply_regional(*a[:4], residual=a[4]), (x, layout, scale, shift, res)
    )


@pytest.mark.parametrize("residual", [False, True])
def test_gradients_under_torch_compile_match_eager(residual):
    """Dynamo traces both autograd Functions into the graph. torch 2.11 sent the gradient
    of a forward output modified in place to the wrong slot (every gradient through AN
    came out wrong, pytorch/pytorch#180642): the compiled path must not modify it in place.
    The ``eager`` backend runs dynamo's graph without inductor, so this takes a second."""
    torch.manual_seed(7)
    x, res = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    logits, beta, alpha = torch.randn(2, 5, 4, 4), torch.rand(3, 5) + 0.5, torch.randn(3, 5)
    inputs = (x, logits, beta, alpha, res) if residual else (x, logits, beta, alpha)

    def fn(x, logits, beta, alpha, res=None):
        layout = torch.softmax(logits, dim=1)
        scale, shift = regional_affine(x, layout, beta, alpha)
        return apply_regional(x, layout, scale, shift, residual=res)

    weights = torch.randn(2, 3, 4, 4)
    runs = []  # (output, *gradients) of eager, then compiled
    for f in (fn, torch.compile(fn, backend="eager", fullgraph=True)):
        leaves = [t.clone().requires_grad_() for t in inputs]
        out = f(*leaves)
        runs.append((out.detach(), *torch.autograd.grad((out * weights).sum(), leaves)))
    for got, want in zip(runs[1], runs[0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_hard_layout_weighted_is_instance_norm_inside_each_region():
    torch.manual_seed(2)
    eps = 1e-5
    x = torch.randn(2, 3, 10, 9, dtype=torch.float64)
    layout = one_hot_layout(2, 3, 10, 9)
    out = regional_norm(x, layout, eps=eps, variance="weighted")
    for b in range(2):
        for k in range(3):
            region = layout[b, k].bool()
            if region.sum() < 2:
                continue
            v = x[b][:, region]  # (C, pixels of region k)
            mu = v.mean(dim=1, keepdim=True)
            sigma = v.var(dim=1, unbiased=False, keepdim=True).sqrt()
            want = (v - mu) / (sigma + eps)
            # cnt carries +eps, so mu and sigma differ from the exact ones by O(eps / |region|).
            assert (out[b][:, region] - want).abs().max().item() < 1e-4


def test_single_region_paper_variance_is_instance_norm():
    """With one region covering the image, Algorithm 1 reduces to instance norm."""
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    out = regional_norm(x, torch.ones(2, 1, 6, 6, dtype=torch.float64), eps=0.0)
    want = torch.nn.functional.instance_norm(x, eps=0.0)
    assert (out - want).abs().max().item() < 1e-10


def test_paper_variance_differs_from_instance_norm_in_small_regions():
    """Algorithm 1 squares X*S - mu over *all* pixels: outside a region that adds mu^2.

    This pins the documented difference between the two variance options, so a
    change that silently swaps them fails.
    """
    torch.manual_seed(3)
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64) + 3.0
    layout = one_hot_layout(1, 4, 8, 8)
    paper = regional_norm(x, layout, variance="paper")
    weighted = regional_norm(x, layout, variance="weighted")
    assert (paper - weighted).abs().max().item() > 0.1


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any op creates."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("variance", ["paper", "weighted"])
def test_never_materialises_c_times_n_tensor(variance):
    b, c, n, h, w = 2, 16, 8, 12, 12
    x = torch.randn(b, c, h, w, requires_grad=True)
    layout = random_layout(b, n, h, w).float().requires_grad_()
    beta = torch.ones(c, n, requires_grad=True)
    alpha = torch.zeros(c, n, requires_grad=True)
    with _LargestTensor() as probe:
        regional_norm(x, layout, beta, alpha, variance=variance).square().sum().backward()
    assert probe.largest < b * c * n * h * w / 2  # the matrix form needs at most 2*B*C*HW
    with _LargestTensor() as naive_probe:
        naive_regional_norm(x, layout, beta, alpha, variance=variance)
    assert naive_probe.largest >= b * c * n * h * w  # the probe does see a broadcast


def _errors_under_bf16(wrap) -> tuple[float, float]:
    """Largest error against float64 of ``wrap(regional_norm)`` under bf16 autocast, and
    of ``wrap`` of the same computation with its statistics in bf16 (the control)."""
    torch.manual_seed(4)
    # A large offset makes s2 - 2 mu s1 + HW mu^2 cancel: bf16 statistics would be garbage.
    x = (torch.randn(2, 8, 16, 16) * 2.0 + 50.0).bfloat16()
    layout = random_layout(2, 4, 16, 16).bfloat16()
    want = naive_regional_norm(x.double(), layout.double(), variance="weighted")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = wrap(regional_norm)(x, layout, variance="weighted")
    assert got.dtype == torch.bfloat16
    in_bf16 = wrap(naive_regional_norm)(x, layout, variance="weighted")
    return tuple((y.double() - want).abs().max().item() for y in (got, in_bf16))


def test_statistics_in_float32_under_bf16_autocast():
    ours, in_bf16 = _errors_under_bf16(lambda norm: norm)
    assert ours < 0.05  # only the bf16 rounding of the output remains (8 mantissa bits)
    assert in_bf16 > 0.15  # 5x worse than float32


@pytest.mark.slow
def test_statistics_stay_float32_when_compiled():
    """Inductor keeps the float32 island: compiled bf16 is as accurate as eager bf16.

    The control compiles the same computation with its statistics in bf16: inductor does
    not quietly upcast it, so the threshold does tell the two apart.
    """
    ours, in_bf16 = _errors_under_bf16(
        lambda norm: torch.compile(norm, backend="inductor", fullgraph=True)
    )
    assert ours < 0.05
    assert in_bf16 > 0.1


def test_empty_region_has_finite_gradients():
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    layout = torch.zeros(1, 2, 4, 4, dtype=torch.float64)
    layout[:, 0] = 1.0  # region 1 is empty: sigma = 0 there
    layout.requires_grad_()
    regional_norm(x, layout).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layout.grad).all()


def test_rejects_mismatched_shapes_and_options():
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="spatial size"):
        regional_norm(x, torch.rand(2, 2, 5, 4))
    with pytest.raises(ValueError, match="variance"):
        regional_norm(x, torch.rand(2, 2, 4, 4), variance="bogus")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        regional_norm(x[0], torch.rand(2, 2, 4, 4))


def test_regional_norm_is_regional_affine_applied():
    torch.manual_seed(0)
    x, layout = torch.randn(2, 3, 4, 5), random_layout(2, 2, 4, 5).float()
    kwargs = dict(eps=1e-3, variance="weighted", statistics="batch", official_mean=True)
    want = apply_regional(x, layout, *regional_affine(x, layout, **kwargs))
    assert torch.equal(regional_norm(x, layout, **kwargs), want)
    params = inspect.signature(regional_norm).parameters  # help() shows the real arguments
    assert list(params) == list(inspect.signature(regional_affine).parameters)


def test_orthogonality_loss():
    q, _ = torch.linalg.qr(torch.randn(12, 12, dtype=torch.float64))
    rows = q[:5].reshape(5, 12, 1, 1)  # 5 orthonormal rows
    assert orthogonality_loss(rows).item() < 1e-10
    w = torch.randn(5, 12, 1, 1, dtype=torch.float64)
    gram = w.reshape(5, 12) @ w.reshape(5, 12).T - torch.eye(5, dtype=torch.float64)
    assert orthogonality_loss(w).item() == pytest.approx((gram**2).sum().item(), rel=1e-6)
    assert orthogonality_loss(w, signed=True).item() == pytest.approx(gram.sum().item(), rel=1e-6)
