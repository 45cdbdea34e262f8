"""FID, IS, KID, PRDC, intra-FID and class accuracy of a class-conditional sampler against
cached reference statistics.

Each image is generated and passed through the feature network once; its pool features
feed FID (and KID and PRDC: improved precision/recall, density/coverage), its logits IS.
Accuracy is Shmelkov et al.'s GAN-test (ECCV 2018): the share of samples that a
classifier of the model's classes, trained on real data, assigns to the class they were
generated for (top-1, and top-5 where there are more than five classes).
All accumulators are torchmetrics states, so under DDP each rank generates its share of
the labels and ``compute()`` reduces across ranks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from .features import InceptionFeatures, to_uint8
from .frechet import FeatureMoments, frechet_distance
from .prdc import PRDC
from .reference import ReferenceStats

# labels (n,) int64 -> images (n, 3, H, W), uint8 or float in [-1, 1]
Sampler = Callable[[Tensor], Tensor]
METRICS = ("fid", "intra_fid", "kid", "is", "prdc", "accuracy")
PRDC_KEYS = ("precision", "recall", "density", "coverage")
KID_REAL_FEATURES = 10_000  # real features a reference keeps for KID, at most


@dataclass
class SampleCounts:
    """How many images each metric uses; the defaults are the literature's.

    50k for FID and IS (Heusel et al. 2017; Salimans et al. 2016, 10 splits); KID as in
    Binkowski et al. 2018 (100 subsets of 1000). PRDC as in Naeem et al. 2020: 10k real
    and 10k generated features (the first ``prdc`` of the ``fid`` samples and of the
    reference's real features), k = 5. Lower them for quick runs, and say so next to the
    numbers: FID is biased upwards at small n, and PRDC's k-NN radii depend on n too.
    """

    fid: int = 50_000
    intra_fid_per_class: int = 5_000
    batch_size: int = 50
    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    prdc: int = 10_000
    prdc_k: int = 5


def real_feature_count(metrics: Sequence[str], generated: int, counts: SampleCounts) -> int:
    """How many real features a reference must keep (its ``kid_features``) for ``metrics``
    with ``generated`` samples: as many as are generated, at most 10k for KID and
    ``counts.prdc`` for PRDC; 0 when neither is asked for."""
    caps = [KID_REAL_FEATURES] * ("kid" in metrics) + [counts.prdc] * ("prdc" in metrics)
    return min(generated, max(caps)) if caps else 0


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
            logits: ``features.has_logits`` or a ``classifier``; KID and PRDC need
            ``reference.kid_features``, the real features they compare with; intra-FID
            needs ``intra_classes``; accuracy only when asked for, since an IS
            classifier need not have the model's classes). PRDC adds ``precision``,
            ``recall``, ``density`` and ``coverage`` (``metrics.prdc``) of the generated
            pool features, the same ones FID uses.
        classifier: uint8 images -> logits, for IS when the feature network has no
            classifier head (the offline fid-helper network has none), and for accuracy
            (then its logits must be over the model's ``num_classes`` classes).
    """
    counts = counts or SampleCounts()
    if reference.network != features.name:
        raise ValueError(
            f"reference statistics come from {reference.network!r} but the feature network "
            f"is {features.name!r}: compute the reference with the same network"
        )
    no_reals = "reference has no real features (kid_features): compute it with kid_count > 0"
    possible = {
        "fid": "",
        "intra_fid": "" if intra_classes else "no intra_classes given",
        "kid": "" if reference.kid_features is not None else no_reals,
        "prdc": no_reals if reference.kid_features is None else _prdc_problem(reference, counts),
        "is": ""
        if features.has_logits or classifier is not None
        else f"{features.name} has no logits: pass classifier= or use the torch-fidelity source",
        "accuracy": ""
        if classifier is not None
        else "it needs classifier=, a classifier of the model's classes",
    }
    default = [m for m in METRICS if not possible[m] and m != "accuracy"]
    chosen = default if metrics is None else list(metrics)
    for m in chosen:
        if m not in possible:
            raise ValueError(f"unknown metric {m!r}; choose from {METRICS}")
        if possible[m]:
            raise ValueError(f"cannot compute {m!r}: {possible[m]}")
    missing = sorted(set(map(int, intra_classes)) - set(reference.per_class))
    if "intra_fid" in chosen and missing:
        raise ValueError(f"reference has no statistics for classes {missing}: recompute it")

    result: dict[str, float | str] = {"feature_network": features.name}
    if {"fid", "kid", "is", "prdc", "accuracy"} & set(chosen):
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
    """FID, KID, IS, PRDC and accuracy over ``counts.fid`` class-balanced samples."""
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
    prdc_state = n_prdc = None
    if "prdc" in chosen:
        prdc_state, n_prdc = _prdc_state(reference, counts, features.num_features, device)
    accuracy = _accuracy_states(num_classes, device) if "accuracy" in chosen else {}
    labels = rank_share(balanced_labels(counts.fid, num_classes, seed))
    index = rank_share(torch.arange(counts.fid))  # which of the fid samples each one is
    batches = zip(labels.split(counts.batch_size), index.split(counts.batch_size), strict=True)
    for batch, at in batches:
        images = sample(batch)
        out = features(images)
        pool = out["pool"].to(device)
        moments.update(pool)
        if kid is not None:
            kid.update(pool, real=False)
        if prdc_state is not None:  # the first n of the fid samples, whichever rank has them
            prdc_state.update(pool[(at < n_prdc[1]).to(pool.device)], real=False)
        logits = None
        if classifier is not None and (inception_score is not None or accuracy):
            logits = classifier(to_uint8(images)).float().to(device)
        if inception_score is not None:
            inception_score.update(out["logits"].float().to(device) if logits is None else logits)
        if accuracy:
            if logits.shape[-1] != num_classes:
                raise ValueError(
                    f"the classifier gives {logits.shape[-1]} logits but the model has "
                    f"{num_classes} classes: accuracy needs a classifier of the model's classes"
                )
            for state in accuracy.values():
                state.update(logits, batch.to(device))
    result: dict[str, float | str] = {"n_fid": counts.fid}
    if "fid" in chosen:
        result["fid"] = frechet_distance(moments.compute(), reference.overall)
    if kid is not None:
        # torchmetrics draws KID's subsets from the global RNG: drawn from ``seed`` here,
        # they are the same on every rank and in every run, whatever ran before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mean, std = kid.compute()
        result |= {"kid_mean": float(mean), "kid_std": float(std)}
    if inception_score is not None:
        mean, std = inception_score.compute()
        result |= {"is_mean": float(mean), "is_std": float(std)}
    result |= {key: float(state.compute()) for key, state in accuracy.items()}
    if prdc_state is not None:
        result |= prdc_state.compute()
        result |= {"n_prdc_real": n_prdc[0], "n_prdc_fake": n_prdc[1], "prdc_k": counts.prdc_k}
    return result


def _accuracy_states(num_classes: int, device: torch.device | str) -> dict:
    """{"accuracy": top-1, "accuracy_top5": top-5 (more than five classes)} accumulators:
    the share of all samples (micro average; the labels are class-balanced anyway)."""
    ks = {"accuracy": 1} | ({"accuracy_top5": 5} if num_classes > 5 else {})
    return {
        key: MulticlassAccuracy(num_classes, top_k=k, average="micro").to(device)
        for key, k in ks.items()
    }


def _prdc_counts(reference: ReferenceStats, counts: SampleCounts) -> tuple[int, int]:
    """(real, generated) feature counts of PRDC: the first ``counts.prdc`` of each."""
    return min(counts.prdc, len(reference.kid_features)), min(counts.prdc, counts.fid)


def _prdc_problem(reference: ReferenceStats, counts: SampleCounts) -> str:
    """Why PRDC cannot be computed with these counts ("" if it can)."""
    n_real, n_fake = _prdc_counts(reference, counts)
    if 1 <= counts.prdc_k < min(n_real, n_fake):
        return ""
    return (
        f"k={counts.prdc_k} needs more than k real ({n_real}) and generated ({n_fake}) "
        "features: raise the sample counts or lower prdc_k (>= 1)"
    )


def _prdc_state(
    reference: ReferenceStats, counts: SampleCounts, dim: int, device: torch.device | str
) -> tuple[PRDC, tuple[int, int]]:
    """A ``PRDC`` accumulator holding this rank's share of the first real features, and
    the (real, generated) counts (``evaluate_sampler`` has checked them)."""
    n_real, n_fake = _prdc_counts(reference, counts)
    state = PRDC(counts.prdc_k).to(device)
    # Gathered across ranks at compute(), like KID's: each rank adds its share (every
    # rank adds a matrix, possibly empty, so the gather sees one everywhere).
    state.update(rank_share(reference.kid_features[:n_real]).to(device), real=True)
    state.update(torch.zeros(0, dim, device=device), real=False)
    return state, (n_real, n_fake)
