"""Reference statistics of a DataModule's training images, cached per dataset and network.

The cache key names the data by its DataModule class and the hyperparameters that
change which images it yields (not batch size, workers, flips or seeds), plus the image
count, so every run, sweep point and evaluation on the same data shares one file.

Shards hold JPEG q95 re-encodings, and FID against JPEG-decoded references is shifted
(SN-GAN-style references are lossless; docs/metrics.md measures the shift). So for a
``ShardDataModule`` whose index lists ``lossless_reference`` (PNG copies of the
preprocessed pixels, written by ``an_lightning.data.shards``) the statistics come from
those copies; older shard folders fall back to the decoded JPEGs with a one-line
warning. The pixels used are part of the key (``...-lossless``, ``...-jpeg95``), so a
JPEG reference is never reused for a lossless one or the other way round.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

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


def dataset_id(data: ImageDataModule, limit: int | None, pixels: str = "") -> str:
    """``<Class>-<hash of the image-defining hparams>-<size>px-<n|all>[-<pixels>]``."""
    # "_class_path" and the like: LightningCLI bookkeeping, absent outside the CLI.
    hp = {k: v for k, v in dict(data.hparams).items() if k not in LOADER_ONLY and k[0] != "_"}
    digest = hashlib.sha1(json.dumps(hp, sort_keys=True, default=str).encode()).hexdigest()
    count = "all" if limit is None else str(limit)
    tag = f"-{pixels}" if pixels else ""
    return f"{type(data).__name__}-{digest[:10]}-{data.image_size}px-{count}{tag}"


@dataclass
class ReferenceImages:
    """What the reference statistics of a DataModule are computed from.

    ``pixels``: ``lossless`` (PNG copies), ``png`` (PNG shards), ``jpeg<q>`` (decoded
    shard JPEGs), or ``""`` for other DataModules (their own source files).
    """

    batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
    pixels: str
    note: str = ""


class LosslessCopies(Dataset):
    """The writer's ``lossless/<label>/<key>.png`` files as uint8 (3, H, W) and a label."""

    def __init__(self, files: list[tuple[Path, int]]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[i]
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
        return torch.from_numpy(pixels).permute(2, 0, 1).contiguous(), label


def lossless_files(index: dict, root: Path, shard_names: Iterable[str]) -> list[tuple[Path, int]]:
    """The PNG copies an index lists that belong to ``shard_names``, in key order (the
    writer's shuffled order, so a limit takes a random subset)."""
    entry = index["lossless_reference"]
    names = [s["name"] for s in index["shards"]]
    wanted = {names.index(n) for n in shard_names if n in names}
    files = []
    for path in (root / entry["dir"]).glob("*/*.png"):
        key = int(path.stem)
        if key // int(entry["shard_size"]) in wanted:
            files.append((key, path, int(path.parent.name)))
    return [(path, label) for _, path, label in sorted(files)]


def reference_images(data: ImageDataModule, limit: int | None = None) -> ReferenceImages:
    """The lossless copies of shards when their index lists them, else the DataModule's
    own ``reference_loader`` (for JPEG shards with a note that they are JPEG-decoded)."""
    index = getattr(data, "index", None)
    if not isinstance(index, dict) or "image_format" not in index:  # not shards
        return ReferenceImages(data.reference_loader(), "")
    if index["image_format"] == "png":
        return ReferenceImages(data.reference_loader(), "png")
    pixels = f"jpeg{index.get('quality') or ''}"
    root = Path(data.index_path).parent
    entry = index.get("lossless_reference")
    files = []
    if entry and (root / entry["dir"]).is_dir():
        files = lossless_files(index, root, (Path(u).name for u in data.train_urls))
    if len(files) < 2:
        why = (
            f"{root / entry['dir']} holds none of the lossless copies of the training shards"
            if entry
            else "no lossless copies"
        )
        note = (
            f"FID reference from JPEG-decoded shards ({root}, q{index.get('quality')}; {why}): "
            "FID is shifted against lossless references; rewrite the shards with "
            "python -m an_lightning.data.shards to get lossless copies"
        )
        return ReferenceImages(data.reference_loader(), pixels, note)
    note, wanted = "", min(limit or sys.maxsize, sum(data.train_counts))
    if len(files) < wanted:  # more are asked for than were kept: fewer, but lossless
        note = f"FID reference from the {len(files)} lossless copies (of {wanted} asked)"
    rank, world = data.rank_and_world()
    loader = DataLoader(
        LosslessCopies(files),
        batch_size=data.hparams.batch_size,
        sampler=list(range(rank, len(files), world)),
        num_workers=data.hparams.num_workers,
    )
    return ReferenceImages(loader, "lossless", note)


def data_reference(
    data: ImageDataModule,
    features: InceptionFeatures,
    cache_dir: Path | None = None,
    limit: int | None = None,
    classes: Sequence[int] = (),
    kid_count: int = 0,
) -> ReferenceStats:
    """Cached statistics of ``data``'s training images (computed once; see module doc)."""
    source = reference_images(data, limit)
    if source.note and data.rank_and_world()[0] == 0:
        print(f"warning: {source.note}", file=sys.stderr)
    return cached_reference(
        cache_dir or default_cache_dir(),
        source.batches,
        features,
        dataset_id(data, limit, source.pixels),
        classes,
        limit,
        kid_count,
    )
