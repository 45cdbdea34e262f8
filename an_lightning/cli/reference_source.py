"""Where ``--ref`` points: a statistics file, shards, an image folder, or (by default)
the data the checkpoint was trained on."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import torch

from ..data import FolderDataModule, ShardDataModule
from ..data.base import ImageDataModule
from .run_dir import RunError


def training_data(ckpt: Path, **overrides) -> ImageDataModule:
    """The DataModule whose config the checkpoint recorded (``fit`` saves it)."""
    header = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    hparams = dict(header.get("datamodule_hyper_parameters") or {})
    class_path = hparams.pop("_class_path", None)
    hparams.pop("_instantiator", None)
    if not isinstance(class_path, str):
        raise RunError(
            f"{ckpt} does not record its training data: pass --ref with a statistics file, "
            "shards or an image folder"
        )
    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, ImageDataModule)):
        raise RunError(f"{ckpt} was trained on {class_path}, which this version cannot build")
    params = inspect.signature(cls).parameters
    accepted = {k: v for k, v in overrides.items() if k in params}
    try:
        return cls(**{**hparams, **accepted})
    except (ValueError, FileNotFoundError) as err:
        raise RunError(
            f"the training data of {ckpt} is not available here ({err}); pass --ref with a "
            "statistics file, shards or an image folder"
        ) from None


def check_ref(spec: str) -> None:
    """``FileNotFoundError`` unless ``--ref`` names something that exists (shard patterns
    are checked when they are expanded)."""
    if not any(c in spec for c in "*?[{") and not Path(spec).exists():
        raise FileNotFoundError(
            f"--ref {spec} does not exist: pass a statistics .pt file, shards or an image folder"
        )


def data_at(spec: str, image_size: int, batch_size: int, num_workers: int) -> ImageDataModule:
    """Shards (a pattern, a .tar, or a folder of .tar files) or a ``<class>/<image>`` folder."""
    path = Path(spec)
    if path.is_dir() and any(path.glob("*.tar")):
        spec = str(path / "*.tar")
    if spec.endswith(".tar") or any(c in spec for c in "*{"):
        data: ImageDataModule = ShardDataModule(
            spec, batch_size=batch_size, num_workers=num_workers, resampled=False, hflip=False
        )
        if data.image_size != image_size:
            raise ValueError(
                f"the shards at {spec} hold {data.image_size}px images but the model makes "
                f"{image_size}px ones: write shards at --size {image_size}"
            )
        return data
    if path.is_dir():
        return FolderDataModule(
            spec, image_size=image_size, batch_size=batch_size, num_workers=num_workers, hflip=False
        )
    raise FileNotFoundError(
        f"--ref {spec} is neither a statistics .pt file, shards, nor an image folder"
    )
