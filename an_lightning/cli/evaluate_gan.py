"""``python -m an_lightning.evaluate`` for class-conditional GAN checkpoints: FID, KID, IS,
PRDC, intra-FID and accuracy of the raw and EMA generators (``--generator``;
``cli/evaluate_generators.py``) against reference statistics: a ``.pt`` file named by
``--ref``, else computed from ``--ref`` data or the training data and cached
(``metrics.data_reference``, docs/metrics.md).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import torch

from ..latents import check_truncation
from ..metrics.data_reference import data_reference, default_cache_dir
from ..metrics.reference import ReferenceStats
from ..metrics.suite import METRICS, SampleCounts, evaluate_sampler, real_feature_count
from ..tasks import ClassConditionalGAN
from . import preflight
from .evaluate_generators import generator_names, score_generators
from .evaluate_inpaint import Result, feature_network
from .reference_source import data_at, training_data


def check_gan_args(args: argparse.Namespace) -> None:
    """The options of a GAN evaluation, checked before the model is loaded."""
    metrics = metric_names(args.metrics)
    if "accuracy" in metrics and not args.classifier:
        raise ValueError(
            "accuracy needs --classifier FILE.pt: a TorchScript classifier of the model's "
            "classes (uint8 images in, logits out), trained on real data"
        )
    check_truncation(args.truncation, "--truncation")
    if args.intra_classes != "all":
        _ints(args.intra_classes)
    if not (args.ref or "").endswith(".pt"):  # statistics are computed and cached
        cache = args.cache_dir or default_cache_dir()
        preflight.output_folder(cache, "--cache-dir" if args.cache_dir else "the reference cache")


def metric_names(spec: str | None) -> list[str]:
    """``--metrics`` for a GAN (default FID and KID); ``ValueError`` for unknown ones."""
    metrics = [m.strip() for m in (spec or "fid,kid").split(",") if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}: choose from {','.join(METRICS)}")
    return metrics


def reference_for(task: ClassConditionalGAN, ckpt: Path, features, args, classes, kid):
    """ReferenceStats named by ``--ref`` (or of the training data), and where they came from."""
    if args.ref and args.ref.endswith(".pt"):
        return ReferenceStats.read(Path(args.ref)), args.ref
    size = task.generator.resolution
    if args.ref:
        data = data_at(args.ref, size, args.batch_size, args.num_workers)
    else:
        data = training_data(ckpt, batch_size=args.batch_size, num_workers=args.num_workers)
    if data.image_size != size or data.num_classes != task.num_classes:
        raise ValueError(
            f"the reference data has {data.num_classes} classes at {data.image_size}px, the "
            f"model {task.num_classes} at {size}px: point --ref at the model's data"
        )
    limit = args.reference_images
    stats = data_reference(data, features, args.cache_dir, limit, classes, kid)
    return stats, stats.dataset


def evaluate_gan(task: ClassConditionalGAN, ckpt: Path, args: argparse.Namespace) -> Result:
    """FID/KID/IS/intra-FID of the raw and/or EMA generator (``/raw``, ``/ema`` keys)."""
    metrics = metric_names(args.metrics)
    classes: list[int] = []
    if "intra_fid" in metrics:
        spec = args.intra_classes
        classes = list(range(task.num_classes)) if spec == "all" else _ints(spec)
        bad = [c for c in classes if not 0 <= c < task.num_classes]
        if bad:
            raise ValueError(
                f"--intra-classes {bad} outside [0, {task.num_classes}): pick ids 0.."
                f"{task.num_classes - 1}, or all"
            )
    features = feature_network(args.feature_network, args.device)
    if "is" in metrics and not (features.has_logits or args.classifier):
        raise ValueError(
            f"IS needs class logits and {features.name} has none: pass --classifier "
            "FILE.pt, use --feature-network torch-fidelity (online), or drop 'is'"
        )
    classifier = _classifier(args.classifier, args.device) if args.classifier else None
    kid = real_feature_count(metrics, args.num_samples, SampleCounts())
    reference, source = reference_for(task, ckpt, features, args, classes, kid)
    reals = 0 if reference.kid_features is None else len(reference.kid_features)
    counts = SampleCounts(
        fid=args.num_samples,
        intra_fid_per_class=args.intra_samples,
        batch_size=args.batch_size,
        # Half of the smaller set at most, so that the subsets differ and kid_std means
        # something; 1000 (Binkowski et al.) once there are 2000 of each.
        kid_subset_size=args.kid_subset_size
        or max(2, min(1000, args.num_samples // 2, reals // 2)),
    )
    task.to(args.device)
    names = generator_names(args.generator)
    score = functools.partial(
        evaluate_sampler,
        num_classes=task.num_classes,
        features=features,
        reference=reference,
        counts=counts,
        intra_classes=classes,
        metrics=metrics,
        classifier=classifier,
        seed=args.seed,
        device=args.device,
    )
    result = score_generators(task, names, args.seed, score, args.truncation)
    truncated = {} if args.truncation is None else {"truncation": args.truncation}
    return {**result, "reference": source, "generators": ",".join(names), **truncated}


def _classifier(path: str, device: str) -> torch.jit.ScriptModule:
    try:
        return torch.jit.load(path, map_location=device).eval()
    except Exception as err:
        raise ValueError(
            f"--classifier {path} is not a TorchScript file ({type(err).__name__}); save "
            "the classifier with torch.jit.save"
        ) from None


def _ints(spec: str) -> list[int]:
    try:
        return [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(
            f"--intra-classes: expected 'all' or a comma list of class ids, got {spec!r}"
        ) from None
