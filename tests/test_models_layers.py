"""Layer factories: SN-GAN's init, spectral norm that stays in float32 under autocast."""

import torch
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from an_lightning.models import Generator
from an_lightning.models.layers import make_layers
from an_lightning.norms import spectral_norm as sn_module


def test_spectral_norm_matches_torch_and_keeps_its_state_layout():
    torch.manual_seed(0)
    ours = make_layers(spectral_norm=True).conv(4, 8)
    reference = torch.nn.Conv2d(4, 8, 3, padding=1)
    reference.load_state_dict({"weight": ours.weight.detach().clone(), "bias": ours.bias.detach()})
    torch.manual_seed(1)
    torch_spectral_norm(reference)
    ours.load_state_dict(reference.state_dict())  # same keys: original, _u, _v
    ours.eval()
    reference.eval()
    assert torch.equal(ours.weight, reference.weight)
    sigma = torch.linalg.matrix_norm(ours.weight.detach().reshape(8, -1), ord=2)
    assert abs(sigma.item() - 1.0) < 0.2  # one power iteration per call, not exact


def test_power_iteration_runs_without_autocast(monkeypatch):
    seen = []
    original = torch.mv

    def spy(mat, vec):
        seen.append((torch.is_autocast_enabled("cpu"), mat.dtype, vec.dtype))
        return original(mat, vec)

    conv = make_layers(spectral_norm=True).conv(4, 8)
    monkeypatch.setattr(sn_module.torch, "mv", spy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(torch.randn(2, 4, 8, 8))
    assert seen and all(state == (False, torch.float32, torch.float32) for state in seen)
    assert out.dtype == torch.bfloat16  # the conv itself still autocasts


def test_init_follows_sngan():
    """Glorot-uniform, gain sqrt(2) in residual branches, 1 elsewhere; zero biases."""
    torch.manual_seed(0)
    g = Generator(resolution=64, num_classes=7, ch=16)

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
