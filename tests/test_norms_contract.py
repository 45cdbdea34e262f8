"""Every registered norm honours the registry's contract, whatever it computes."""

import io

import pytest
import torch

from an_lightning.norms import MissingConditionError, build_norm, norm_class, norm_names

C, CLASSES = 16, 5

# Options and condition of each registered norm. A norm registered without an
# entry here fails test_every_norm_has_a_contract_entry, so none escapes the suite.
CASES = {
    "none": ({}, None),
    "bn": ({}, None),
    "cbn": ({"num_classes": CLASSES}, lambda b: torch.randint(0, CLASSES, (b,))),
    "in": ({}, None),
    "spade": ({"cond_channels": 2, "hidden": 8}, lambda b: torch.rand(b, 2, 4, 4)),
    "sa": ({}, None),
    "an": ({"n": 4}, None),
    "an_official": ({"n": 4}, None),
}


def test_every_norm_has_a_contract_entry():
    assert set(norm_names()) == set(CASES)


def make(name: str, seed: int = 0):
    torch.manual_seed(seed)
    options, cond = CASES[name]
    x = torch.randn(4, C, 8, 8)
    return build_norm(name, C, **options), x, (cond(4) if cond else None)


def wake_zero_inits(norm):
    """rho (AN) and gamma (SA) start at 0, which blocks gradients to their inner layers."""
    with torch.no_grad():
        for pname in ("rho", "gamma"):
            if isinstance(getattr(norm, pname, None), torch.nn.Parameter):
                getattr(norm, pname).fill_(0.5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_and_gradients(name):
    norm, x, cond = make(name)
    wake_zero_inits(norm)
    x.requires_grad_()
    out = norm(x, cond)
    assert out.shape == x.shape and out.dtype == x.dtype
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in norm.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


@pytest.mark.parametrize("name", sorted(CASES))
def test_condition_required_or_ignored(name):
    norm, x, cond = make(name)
    if norm_class(name).cond_kind is None:
        assert cond is None
        assert torch.equal(norm.eval()(x), norm(x, torch.zeros(4)))
    else:
        with pytest.raises(MissingConditionError, match="cond="):
            norm(x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip(name):
    norm, x, cond = make(name, seed=0)
    wake_zero_inits(norm)
    with torch.no_grad():
        for p in norm.parameters():
            p.add_(0.1 * torch.randn_like(p))
    norm.train()
    norm(x, cond)  # moves BN running statistics away from their init
    buffer = io.BytesIO()
    torch.save(norm.state_dict(), buffer)
    other, _, _ = make(name, seed=1)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer))
    norm.eval()
    other.eval()
    # A norm may sample in eval (an_official): the same draw on both sides.
    for m in (norm, other):
        m.generator = torch.Generator().manual_seed(0)
    assert torch.equal(norm(x, cond), other(x, cond))


@pytest.mark.parametrize("name", sorted(CASES))
def test_runs_under_bf16_autocast(name):
    norm, x, cond = make(name)
    wake_zero_inits(norm)
    for inp in (x, x.bfloat16()):  # float32 input, and the bf16 output of a previous layer
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = norm(inp, cond)
        assert out.shape == x.shape and torch.isfinite(out.float()).all()
