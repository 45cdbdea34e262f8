"""AN against independent float64 oracles: the released TF code and the paper's equations.

Neither oracle uses the package's functional core: (a) transliterates the
released ``att_normalization`` (NHWC, 1x1 convs as einsums, biases on k, q, v,
mean divided by H*W, t clamped, one with-replacement sample shared by the batch,
eps 1e-7, no affine, signed orthogonality loss); (b) writes the paper's
equations naively with the full (B, C, n, H, W) broadcast (Algorithm 1 or the
weighted variance, pooled keys, per-sample sampling without replacement,
affine beta/alpha, squared-Frobenius orthogonality loss, eps 1e-5).
Outputs and the gradients w.r.t. the input and every parameter must agree.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from an_lightning.norms import build_norm

ATOL = 1e-10
TAU = 0.1


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make(seed: int = 0, c: int = 16, name: str = "an", **options):
    """An AN in float64 with every parameter moved off its init (biases, t, rho, affine)."""
    torch.manual_seed(seed)
    an = build_norm(name, c, **options).double()
    with torch.no_grad():
        an.rho.fill_(0.7)
        if an.t is not None:  # some inside [0, 1], some clamped by an_official
            an.t.copy_(torch.linspace(-0.3, 1.4, an.t.numel(), dtype=torch.float64))
        for conv in (an.key, an.query, an.value):
            if conv is not None and conv.bias is not None:
                conv.bias.normal_(0.0, 0.5)
        if an.beta is not None:
            an.beta.uniform_(0.5, 1.5)
            an.alpha.normal_()
    return an


def conv1x1_nhwc(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """tf.layers.conv2d with a 1x1 kernel on NHWC input."""
    out = torch.einsum("bhwc,oc->bhwo", x, weight[:, :, 0, 0])
    return out if bias is None else out + bias


def tf_att_normalization(
    x: Tensor, p: dict[str, Tensor], positions: Tensor
) -> tuple[Tensor, Tensor]:
    """The released TF layer: output (NCHW, for comparison) and its orthogonality loss.

    ``positions`` (n,) index the flattened H*W grid, one draw for the whole batch.
    """
    eps = 1e-7
    xh = x.permute(0, 2, 3, 1)  # NHWC
    b, h, w, _ = xh.shape
    f = conv1x1_nhwc(xh, p["layout.weight"], None)  # (b, h, w, n)
    k = conv1x1_nhwc(xh, p["key.weight"], p["key.bias"]).reshape(b, h * w, -1)
    q = conv1x1_nhwc(xh, p["query.weight"], p["query.bias"]).reshape(b, h * w, -1)
    v = conv1x1_nhwc(xh, p["value.weight"], p["value.bias"])  # what gets normalised
    sampled = k[:, positions, :]  # (b, n, c/8), same positions for every sample
    corr = torch.matmul(q, sampled.transpose(1, 2)).reshape(b, h, w, -1)  # (b, h, w, n)
    t = torch.clamp(p["t"], 0.0, 1.0)
    s = torch.softmax((f + t * corr) * TAU, dim=-1)  # over entities
    vv, ss = v.unsqueeze(-1), s.unsqueeze(-2)  # (b, h, w, c, 1), (b, h, w, 1, n)
    cnt = ss.sum(dim=(1, 2), keepdim=True) + eps
    act = vv * ss
    mean = act.sum(dim=(1, 2), keepdim=True) / cnt / (h * w)
    std = torch.sqrt(((act - mean) ** 2).sum(dim=(1, 2), keepdim=True) / cnt)
    xbar = ((vv - mean) / (std + eps) * ss).sum(dim=-1)  # (b, h, w, c)
    out = xh + p["rho"] * xbar
    wm = p["layout.weight"][:, :, 0, 0]
    ortho = (wm @ wm.T - torch.eye(wm.shape[0], dtype=wm.dtype)).sum()
    return out.permute(0, 3, 1, 2), ortho


def paper_an(
    x: Tensor,
    p: dict[str, Tensor],
    positions: Tensor | None,
    variance: str = "paper",
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """The paper's layer, naively broadcast.

    ``positions`` (B, n) index the 2x2-pooled grid; None means no SSR.
    """
    b, _, h, w = x.shape
    f = torch.einsum("bchw,nc->bnhw", x, p["layout.weight"][:, :, 0, 0])
    logits = f
    if positions is not None:
        k = torch.einsum("bchw,oc->bohw", x, p["key.weight"][:, :, 0, 0])
        q = torch.einsum("bchw,oc->bohw", x, p["query.weight"][:, :, 0, 0])
        ck = k.shape[1]
        pooled = k.reshape(b, ck, h // 2, 2, w // 2, 2).amax(dim=(3, 5)).reshape(b, ck, -1)
        rows = torch.arange(b)[:, None]
        sampled = pooled.permute(0, 2, 1)[rows, positions]  # (b, n, ck)
        corr = torch.einsum("bic,bchw->bihw", sampled, q)
        logits = f + p["t"].view(1, -1, 1, 1) * corr
    S = torch.softmax(TAU * logits, dim=1).unsqueeze(1)  # (b, 1, n, h, w)
    X = x.unsqueeze(2)  # (b, c, 1, h, w)
    cnt = S.sum(dim=(3, 4), keepdim=True) + eps
    mu = (X * S).sum(dim=(3, 4), keepdim=True) / cnt  # (b, c, n, 1, 1)
    if variance == "paper":  # Algorithm 1: the square of X * S - mu, over all pixels
        var = ((X * S - mu) ** 2).sum(dim=(3, 4), keepdim=True) / cnt
    else:
        var = (S * (X - mu) ** 2).sum(dim=(3, 4), keepdim=True) / cnt
    beta, alpha = p["beta"][None, :, :, None, None], p["alpha"][None, :, :, None, None]
    xbar = (((X - mu) / (torch.sqrt(var) + eps) * beta + alpha) * S).sum(dim=2)
    wm = p["layout.weight"][:, :, 0, 0]
    ortho = torch.linalg.matrix_norm(wm @ wm.T - torch.eye(wm.shape[0], dtype=wm.dtype)) ** 2
    return x + p["rho"] * xbar, ortho


SSR_PARAMS = frozenset({"t", "key.weight", "query.weight"})


def compare(an, oracle, x: Tensor, seed: int, unused_ok: frozenset = frozenset()) -> float:
    """Max abs difference of outputs, losses and all gradients, ours vs the oracle."""
    params = {k: v.detach().clone().requires_grad_() for k, v in an.named_parameters()}
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    an.generator = seeded(seed)
    ours, ours_ortho = an(xa), an.orthogonality_loss()
    theirs, theirs_ortho = oracle(xb, params)
    probe = torch.randn(x.shape, dtype=x.dtype, generator=seeded(99))
    ours_params = dict(an.named_parameters())
    names = list(ours_params)  # SSR's are unused without SSR: both sides must agree
    ga = torch.autograd.grad(
        (ours * probe).sum() + 1e-3 * ours_ortho,
        [xa, *(ours_params[k] for k in names)],
        allow_unused=True,
    )
    gb = torch.autograd.grad(
        (theirs * probe).sum() + 1e-3 * theirs_ortho,
        [xb, *(params[k] for k in names)],
        allow_unused=True,
    )
    assert [g is None for g in ga] == [g is None for g in gb]
    errors = [(ours - theirs).abs().max(), (ours_ortho - theirs_ortho).abs()]
    errors += [(a - b).abs().max() for a, b in zip(ga, gb, strict=True) if b is not None]
    unused = {k for k, g in zip(names, gb[1:], strict=True) if g is None}
    assert unused <= unused_ok and all(g.abs().max() > 0 for g in gb if g is not None)
    return max(e.item() for e in errors)


def replay(an, seed: int, batch: int, positions: int) -> Tensor:
    an.generator = seeded(seed)
    return an.sample_positions(batch, positions)


@pytest.mark.parametrize("train", [True, False])
def test_an_official_matches_the_released_tf_layer(train):
    an = make(name="an_official").train(train)  # sampling stays on in eval too
    x = torch.randn(3, 16, 6, 8, dtype=torch.float64)
    idx = replay(an, 5, 3, 48)
    assert all(torch.equal(idx[0], row) for row in idx)
    err = compare(an, lambda xx, p: tf_att_normalization(xx, p, idx[0]), x, seed=5)
    print(f"an_official vs TF transliteration (train={train}): max error {err:.3e}")
    assert err < ATOL


@pytest.mark.parametrize("variance", ["paper", "weighted"])
def test_an_matches_the_equations(variance):
    an = make(variance=variance).train()
    x = torch.randn(3, 16, 8, 10, dtype=torch.float64)
    idx = replay(an, 7, 3, 20)  # 2x2-pooled grid: 4 x 5 positions for 16 entities
    assert all(len(set(row.tolist())) == row.numel() for row in idx)  # no replacement
    err = compare(an, lambda xx, p: paper_an(xx, p, idx, variance), x, seed=7)
    print(f"an ({variance} variance, SSR on) vs equations: max error {err:.3e}")
    assert err < ATOL


def test_an_eval_and_ssr_off_match_the_equations():
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64)
    worst = 0.0
    for an in (make().eval(), make(ssr=False).train(), make(ssr=False, variance="weighted")):
        oracle = lambda xx, p, v=an.variance: paper_an(xx, p, None, v)  # noqa: E731
        worst = max(worst, compare(an, oracle, x, 0, unused_ok=SSR_PARAMS))
    print(f"an, SSR off (eval / ssr=False) vs equations: max error {worst:.3e}")
    assert worst < ATOL
