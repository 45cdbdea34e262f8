"""Layer factories: spectral norm that stays in float32 under autocast."""

import torch
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from an_lightning.models.layers import Float32SpectralNorm, make_layers


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
    assert torch.allclose(ours.weight, reference.weight, atol=1e-6)
    sigma = torch.linalg.matrix_norm(ours.weight.detach().reshape(8, -1), ord=2)
    assert abs(sigma.item() - 1.0) < 0.2  # one power iteration per call, not exact


def test_power_iteration_runs_without_autocast(monkeypatch):
    seen = []
    original = Float32SpectralNorm._power_method

    def spy(self, weight_mat, n):
        seen.append((torch.is_autocast_enabled("cpu"), weight_mat.dtype))
        return original(self, weight_mat, n)

    monkeypatch.setattr(Float32SpectralNorm, "_power_method", spy)
    conv = make_layers(spectral_norm=True).conv(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(torch.randn(2, 4, 8, 8))
    assert seen and all(state == (False, torch.float32) for state in seen)
    assert out.dtype == torch.bfloat16  # the conv itself still autocasts
