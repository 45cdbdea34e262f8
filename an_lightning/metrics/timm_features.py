"""Frechet distance features from a timm backbone (e.g. DINOv2, CLIP), where timm is installed.

These numbers are not comparable with Inception FID; the network name (``timm:<model>``)
stored with them says so. timm is imported only here and only on request, because it
imports torchvision, which the CPU setup does not have.
"""

from __future__ import annotations

import importlib
import importlib.util

import torch
from torch import Tensor, nn

from .features import InceptionFeatures, to_uint8


class TimmFeatures(InceptionFeatures):
    """uint8/[-1, 1] images -> pooled timm features at the model's own resolution and norm."""

    def __init__(self, model: nn.Module, model_name: str) -> None:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        missing = [k for k in ("input_size", "mean", "std") if k not in cfg]
        if missing:
            raise ValueError(f"timm model {model_name!r} has no pretrained_cfg {missing}")
        super().__init__(model, f"timm:{model_name}", num_features=model.num_features)
        self.size = tuple(cfg["input_size"][-2:])
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1))

    @torch.no_grad()
    def forward(self, images: Tensor) -> dict[str, Tensor]:
        x = to_uint8(images.to(self.device)).float() / 255
        x = nn.functional.interpolate(x, self.size, mode="bicubic", antialias=True)
        pool = self.net((x.clamp(0, 1) - self.mean) / self.std)
        return {"pool": pool.reshape(pool.shape[0], -1).float()}


def load_timm_features(model_name: str) -> TimmFeatures:
    """A pretrained timm backbone without its head (weights download on first use)."""
    if importlib.util.find_spec("timm") is None:
        raise ModuleNotFoundError(
            f"feature network 'timm:{model_name}' needs timm (pip install -c constraints.txt "
            "'.[timm]', which also needs torchvision): the timm Frechet distance is skipped here"
        )
    timm = importlib.import_module("timm")
    model = timm.create_model(model_name, pretrained=True, num_classes=0)
    return TimmFeatures(model.eval(), model_name)
