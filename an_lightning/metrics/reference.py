"""Reference statistics of real images: computed once, cached to a file keyed by data and network.

The file holds the overall ``GaussianStats`` of the real pool features, per-class stats for
the intra-FID class list, and optionally a capped set of real features for KID (which needs
samples, not moments). Loading checks that the dataset id and the feature network's name
match the request, so a number is never computed against another network's statistics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..files import replace_atomically
from .features import InceptionFeatures
from .frechet import FeatureMoments, GaussianStats

FORMAT_VERSION = 1


@dataclass
class ReferenceStats:
    """Real-data statistics under one feature network."""

    dataset: str
    network: str
    overall: GaussianStats
    per_class: dict[int, GaussianStats] = field(default_factory=dict)
    kid_features: Tensor | None = None

    def save(self, path: Path) -> None:
        def pack(s: GaussianStats) -> dict:
            return {"mean": s.mean, "cov": s.cov, "count": s.count}

        blob = {
            "version": FORMAT_VERSION,
            "dataset": self.dataset,
            "network": self.network,
            "overall": pack(self.overall),
            "per_class": {int(c): pack(s) for c, s in self.per_class.items()},
            "kid_features": self.kid_features,
        }
        # Whole or not at all, also when jobs sharing the cache write it at once.
        replace_atomically(path, lambda file: torch.save(blob, file))

    @classmethod
    def read(cls, path: Path) -> ReferenceStats:
        """Statistics from a file of any dataset and network (``load`` checks both)."""
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(
                f"cannot read reference statistics {path} ({err}): delete the file to have "
                "it recomputed"
            ) from None
        if not isinstance(blob, dict) or blob.get("version") != FORMAT_VERSION:
            version = blob.get("version") if isinstance(blob, dict) else None
            raise ValueError(
                f"{path} is not a reference statistics file of format {FORMAT_VERSION} "
                f"(found {version}): recompute it from the data"
            )

        def unpack(d: dict) -> GaussianStats:
            return GaussianStats(d["mean"], d["cov"], int(d["count"]))

        return cls(
            blob["dataset"],
            blob["network"],
            unpack(blob["overall"]),
            {int(c): unpack(d) for c, d in blob["per_class"].items()},
            blob["kid_features"],
        )

    @classmethod
    def load(cls, path: Path, dataset: str, network: str) -> ReferenceStats:
        """``read`` the file, refusing statistics of another dataset or feature network."""
        ref = cls.read(path)
        if (ref.dataset, ref.network) != (dataset, network):
            raise ValueError(
                f"{path} holds statistics of dataset {ref.dataset!r} under network "
                f"{ref.network!r}, but {dataset!r} under {network!r} was asked for: "
                "delete the file or point to the right cache"
            )
        return ref


def reference_path(cache_dir: Path, dataset: str, network: str) -> Path:
    """``<cache_dir>/<dataset>__<network>.pt`` with unsafe characters replaced."""
    safe = re.compile(r"[^A-Za-z0-9._-]+")
    return Path(cache_dir) / f"{safe.sub('-', dataset)}__{safe.sub('-', network)}.pt"


def compute_reference(
    batches: Iterable[tuple[Tensor, Tensor]],
    features: InceptionFeatures,
    dataset: str,
    classes: Sequence[int] = (),
    limit: int | None = None,
    kid_count: int = 0,
) -> ReferenceStats:
    """Statistics of real ``(images, labels)`` batches (uint8 or [-1, 1] float).

    Args:
        classes: classes that get their own statistics (the intra-FID list).
        limit: stop after this many images (``None``: the whole iterable).
        kid_count: keep the first this many real features for KID.

    Under DDP every rank passes its own shard; ``FeatureMoments`` sums them.
    """
    overall = FeatureMoments(features.num_features)
    per_class = {int(c): FeatureMoments(features.num_features) for c in classes}
    kept: list[Tensor] = []
    seen = 0
    for images, labels in batches:
        if limit is not None:
            images, labels = images[: limit - seen], labels[: limit - seen]
        pool = features(images)["pool"].cpu()
        overall.update(pool)
        for c, moments in per_class.items():
            mask = labels.cpu() == c
            if mask.any():
                moments.update(pool[mask])
        if kid_count > sum(len(k) for k in kept):
            kept.append(pool[: kid_count - sum(len(k) for k in kept)])
        seen += len(images)
        if limit is not None and seen >= limit:
            break
    stats, missing = {}, []
    for c, moments in per_class.items():
        if moments.count < 2:  # local count; compute() below sums the ranks
            missing.append(c)
        else:
            stats[c] = moments.compute()
    if missing:
        raise ValueError(
            f"classes {missing} have fewer than 2 real images in the data seen: check the "
            "class list or raise `limit`"
        )
    return ReferenceStats(
        dataset, features.name, overall.compute(), stats, torch.cat(kept) if kept else None
    )


def cached_reference(
    cache_dir: Path,
    batches: Iterable[tuple[Tensor, Tensor]],
    features: InceptionFeatures,
    dataset: str,
    classes: Sequence[int] = (),
    limit: int | None = None,
    kid_count: int = 0,
) -> ReferenceStats:
    """Load the cached statistics of ``dataset`` under ``features``, computing them once.

    A cache lacking a requested class or KID features is recomputed. Under DDP rank 0
    alone reads and writes the cache and broadcasts what it found, so ranks with
    different views of the cache folder never disagree about computing; ``limit`` is
    then split over the ranks, which pass their own shares of the data as ``batches``
    (KID features are rank 0's share).
    """
    distributed = torch.distributed.is_initialized()
    rank, world = (
        (torch.distributed.get_rank(), torch.distributed.get_world_size())
        if distributed
        else (0, 1)
    )
    path = reference_path(cache_dir, dataset, features.name)
    found = None
    if rank == 0 and path.is_file():
        ref = ReferenceStats.load(path, dataset, features.name)
        has_kid = 0 if ref.kid_features is None else len(ref.kid_features)
        enough_kid = has_kid >= min(kid_count, ref.overall.count)  # all a small set has
        if set(map(int, classes)) <= set(ref.per_class) and enough_kid:
            found = ref
    if distributed:
        box = [found]
        torch.distributed.broadcast_object_list(box, src=0)
        found = box[0]
    if found is not None:
        return found
    share = None if limit is None else -(-limit // world)
    ref = compute_reference(batches, features, dataset, classes, share, kid_count)
    if rank == 0:
        ref.save(path)
    return ref
