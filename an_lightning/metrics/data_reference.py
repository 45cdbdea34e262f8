"""Reference statistics of a DataModule's training images, cached per dataset and network.

The cache key names the data by its DataModule class and the hyperparameters that
change which images it yields (not batch size, workers, flips or seeds), plus the image
count, so every run, sweep point and evaluation on the same data shares one file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..data.base import ImageDataModule
from .features import InceptionFeatures
from .reference import ReferenceStats, cached_reference

# Hyperparameters that change how images are delivered, not which ones.
LOADER_ONLY = frozenset(
    {
        "batch_size",
        "num_workers",
        "hflip",
        "max_bad_fraction",
        "resampled",
        "batches_per_epoch",
        "shuffle_buffer",
        "seed",
        "val_shards",
        "val_root",
    }
)


def default_cache_dir() -> Path:
    """``$AN_LIGHTNING_CACHE``, else ``$XDG_CACHE_HOME/an_lightning/reference`` (~/.cache)."""
    if os.environ.get("AN_LIGHTNING_CACHE"):
        return Path(os.environ["AN_LIGHTNING_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "an_lightning" / "reference"


def dataset_id(data: ImageDataModule, limit: int | None) -> str:
    """``<Class>-<hash of the image-defining hparams>-<size>px-<n|all>``."""
    # "_class_path" and the like: LightningCLI bookkeeping, absent outside the CLI.
    hp = {k: v for k, v in dict(data.hparams).items() if k not in LOADER_ONLY and k[0] != "_"}
    digest = hashlib.sha1(json.dumps(hp, sort_keys=True, default=str).encode()).hexdigest()
    count = "all" if limit is None else str(limit)
    return f"{type(data).__name__}-{digest[:10]}-{data.image_size}px-{count}"


def data_reference(
    data: ImageDataModule,
    features: InceptionFeatures,
    cache_dir: Path | None = None,
    limit: int | None = None,
    classes: Sequence[int] = (),
    kid_count: int = 0,
) -> ReferenceStats:
    """Cached statistics of ``data``'s training images (computed once; see module doc)."""
    return cached_reference(
        cache_dir or default_cache_dir(),
        data.reference_loader(),
        features,
        dataset_id(data, limit),
        classes,
        limit,
        kid_count,
    )
