"""FID, IS, KID and intra-FID of a class-conditional sampler against cached reference statistics.

Each image is generated and passed through the feature network once; its pool features
feed FID (and KID), its logits IS. All accumulators are torchmetrics states, so under DDP
each rank generates its share of the labels and ``compute()`` reduces across ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from .features import InceptionFeatures, to_uint8
from .frechet import FeatureMoments, frechet_distance
from .reference import ReferenceStats

# labels (n,) int64 -> images (n, 3, H, W), uint8 or float in [-1, 1]
Sampler = Callable[[Tensor], Tensor]
METRICS = ("fid", "intra_fid", "kid", "is")


@dataclass
class SampleCounts:
    """How many images each metric uses; the defaults are the literature's.

    50k for FID and IS (Heusel et al. 2017; Salimans et al. 2016, 10 splits); KID as in
    Binkowski et al. 2018 (100 subsets of 1000). Lower them for quick runs, and say so
    next to the numbers: FID is biased upwards at small n.
    """

    fid: int = 50_000
    intra_fid_per_class: int = 5_000
    batch_size: int = 50
    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000


def rank_share(items: Tensor) -> Tensor:
    """This rank's rows (strided), so the ranks together cover every row once."""
    if not torch.distributed.is_initialized():
        return items
    return items[torch.distributed.get_rank() :: torch.distributed.get_world_size()]


def balanced_labels(n: int, num_classes: int, seed: int) -> Tensor:
    """n labels, every class equally often (+-1), in a seeded random order."""
    g = torch.Generator().manual_seed(seed)
    return (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]


@torch.no_grad()
def evaluate_sampler(
    sample: Sampler,
    num_classes: int,
    features: InceptionFeatures,
    reference: ReferenceStats,
    counts: SampleCounts | None = None,
    intra_classes: Sequence[int] = (),
    metrics: Sequence[str] | None = None,
    classifier: nn.Module | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, float | str]:
    """Evaluate ``sample`` and return numbers plus the feature network and counts used.

    Args:
        metrics: subset of ``METRICS``; ``None``: all that the inputs allow (IS needs
            logits: ``features.has_logits`` or a ``classifier``; KID needs
            ``reference.kid_features``; intra-FID needs ``intra_classes``).
        classifier: uint8 images -> logits, for IS when the feature network has no
            classifier head (the offline fid-helper network has none).
    """
    counts = counts or SampleCounts()
    if reference.network != features.name:
        raise ValueError(
            f"reference statistics come from {reference.network!r} but the feature network "
            f"is {features.name!r}: compute the reference with the same network"
        )
    possible = {
        "fid": "",
        "intra_fid": "" if intra_classes else "no intra_classes given",
        "kid": "" if reference.kid_features is not None else "reference has no kid_features",
        "is": ""
        if features.has_logits or classifier is not None
        else f"{features.name} has no logits: pass classifier= or use the torch-fidelity source",
    }
    chosen = [m for m in METRICS if not possible[m]] if metrics is None else list(metrics)
    for m in chosen:
        if m not in possible:
            raise ValueError(f"unknown metric {m!r}; choose from {METRICS}")
        if possible[m]:
            raise ValueError(f"cannot compute {m!r}: {possible[m]}")
    missing = sorted(set(map(int, intra_classes)) - set(reference.per_class))
    if "intra_fid" in chosen and missing:
        raise ValueError(f"reference has no statistics for classes {missing}: recompute it")

    result: dict[str, float | str] = {"feature_network": features.name}
    if {"fid", "kid", "is"} & set(chosen):
        result |= _overall(
            sample, num_classes, features, reference, counts, chosen, classifier, seed, device
        )
    if "intra_fid" in chosen:
        per_class = {}
        for c in intra_classes:
            labels = torch.full((counts.intra_fid_per_class,), int(c), dtype=torch.long)
            moments = FeatureMoments(features.num_features).to(device)
            for batch in rank_share(labels).split(counts.batch_size):
                moments.update(features(sample(batch))["pool"].to(device))
            per_class[int(c)] = frechet_distance(moments.compute(), reference.per_class[int(c)])
            result[f"intra_fid/{int(c)}"] = per_class[int(c)]
        result["intra_fid"] = sum(per_class.values()) / len(per_class)
        result["n_intra_fid_per_class"] = counts.intra_fid_per_class
    return result


def _overall(
    sample: Sampler,
    num_classes: int,
    features: InceptionFeatures,
    reference: ReferenceStats,
    counts: SampleCounts,
    chosen: list[str],
    classifier: nn.Module | None,
    seed: int,
    device: torch.device | str,
) -> dict[str, float | str]:
    """FID, KID and IS over ``counts.fid`` class-balanced samples."""
    moments = FeatureMoments(features.num_features).to(device)
    inception_score = None
    if "is" in chosen:  # stores every logit vector: only built when asked for
        inception_score = InceptionScore(feature=nn.Identity(), splits=counts.is_splits)
        inception_score = inception_score.to(device)
    kid = None
    if "kid" in chosen:
        size = counts.kid_subset_size
        if size > min(counts.fid, len(reference.kid_features)):
            raise ValueError(
                f"kid_subset_size {size} exceeds the generated ({counts.fid}) or real "
                f"({len(reference.kid_features)}) feature count: lower it"
            )
        kid = KernelInceptionDistance(
            feature=nn.Identity(), subsets=counts.kid_subsets, subset_size=size
        ).to(device)
        # KID's real features are gathered across ranks, so each rank adds its share
        # (a rank with none would fail torchmetrics' gather).
        kid.update(rank_share(reference.kid_features).to(device), real=True)
    labels = rank_share(balanced_labels(counts.fid, num_classes, seed))
    for batch in labels.split(counts.batch_size):
        images = sample(batch)
        out = features(images)
        pool = out["pool"].to(device)
        moments.update(pool)
        if kid is not None:
            kid.update(pool, real=False)
        if inception_score is not None:
            logits = out["logits"] if classifier is None else classifier(to_uint8(images))
            inception_score.update(logits.float().to(device))
    result: dict[str, float | str] = {"n_fid": counts.fid}
    if "fid" in chosen:
        result["fid"] = frechet_distance(moments.compute(), reference.overall)
    if kid is not None:
        mean, std = kid.compute()
        result |= {"kid_mean": float(mean), "kid_std": float(std)}
    if inception_score is not None:
        mean, std = inception_score.compute()
        result |= {"is_mean": float(mean), "is_std": float(std)}
    return result
