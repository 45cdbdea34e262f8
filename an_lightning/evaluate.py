"""Evaluate a checkpoint: ``python -m an_lightning.evaluate RUN_DIR_OR_CKPT [options]``.

Prints a table and appends a record (numbers, feature network, sample counts, reference
data) to ``<checkpoint>.eval.json`` next to the checkpoint. Each task kind has its own
evaluator in ``EVALUATORS``; a class-conditional GAN is scored with FID, KID, IS and
intra-FID of its EMA generator against cached reference statistics (docs/metrics.md);
an inpainting model with PSNR, SSIM and MAE on the fixed evaluation masks
(``cli/evaluate_inpaint.py``; ``--ref`` then names a folder of test images).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from .cli.checkpoint import load_task
from .cli.errors import command_errors
from .cli.evaluate_inpaint import evaluate_inpaint
from .cli.reference_source import data_at, training_data
from .metrics.data_reference import data_reference, default_cache_dir
from .metrics.features import load_feature_network
from .metrics.reference import ReferenceStats
from .metrics.sampler import ema_sampler, generator_sampler
from .metrics.suite import METRICS, SampleCounts, evaluate_sampler
from .tasks import AdversarialTask, ClassConditionalGAN, Inpainting

Result = dict[str, float | int | str]
# KID keeps every feature by design; the counts here are bounded by --num-samples.
warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m an_lightning.evaluate", description=__doc__)
    p.add_argument("checkpoint", help="a run directory (its last.ckpt) or a .ckpt file")
    p.add_argument(
        "--metrics",
        help=f"comma list; GAN: {','.join(METRICS)} (default fid,kid); inpainting: "
        "psnr,ssim,mae,fid (default psnr,ssim,mae)",
    )
    p.add_argument("--num-samples", type=int, default=50_000, help="generated images (FID/KID/IS)")
    p.add_argument("--intra-classes", default="all", help="'all' or a comma list, for intra_fid")
    p.add_argument("--intra-samples", type=int, default=5_000, help="per class, for intra_fid")
    p.add_argument(
        "--ref",
        help="reference statistics .pt, shards (pattern or folder of .tar) or an image folder; "
        "default: the data the checkpoint was trained on",
    )
    p.add_argument("--reference-images", type=int, default=50_000, help="real images, at most")
    p.add_argument(
        "--feature-network",
        default="fid-helper",
        help="fid-helper | torch-fidelity | timm:<model> | a TorchScript file",
    )
    p.add_argument("--is-classifier", help="TorchScript: uint8 images -> logits, for offline IS")
    p.add_argument("--kid-subset-size", type=int, help="default: min(1000, samples / 2, reals / 2)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--num-workers", type=int, default=2, help="data loader workers (reference)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0, help="of latents and labels")
    p.add_argument("--raw", action="store_true", help="score G itself instead of its EMA")
    p.add_argument("--masks", help="inpainting: fixed mask set folder (default: the run's)")
    p.add_argument(
        "--cache-dir", type=Path, help=f"reference cache (default {default_cache_dir()})"
    )
    args = p.parse_args(argv)
    if args.num_samples < 2 or args.intra_samples < 2 or args.batch_size < 1:
        p.error("--num-samples and --intra-samples must be >= 2, --batch-size >= 1")
    return args


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
    """FID/KID/IS/intra-FID of the (EMA) generator; see ``evaluate_sampler``."""
    metrics = [m.strip() for m in (args.metrics or "fid,kid").split(",") if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}: choose from {','.join(METRICS)}")
    classes: list[int] = []
    if "intra_fid" in metrics:
        spec = args.intra_classes
        classes = list(range(task.num_classes)) if spec == "all" else _ints(spec)
        bad = [c for c in classes if not 0 <= c < task.num_classes]
        if bad:
            raise ValueError(f"--intra-classes {bad} outside [0, {task.num_classes})")
    features = load_feature_network(args.feature_network).to(args.device)
    if "is" in metrics and not (features.has_logits or args.is_classifier):
        raise ValueError(
            f"IS needs class logits and {features.name} has none: pass --is-classifier "
            "FILE.pt, use --feature-network torch-fidelity (online), or drop 'is'"
        )
    kid = min(args.num_samples, 10_000) if "kid" in metrics else 0
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
    classifier = None
    if args.is_classifier:
        classifier = torch.jit.load(args.is_classifier, map_location=args.device).eval()
    task.to(args.device)
    sampler = (
        generator_sampler(task.generator, args.seed) if args.raw else ema_sampler(task, args.seed)
    )
    result = evaluate_sampler(
        sampler,
        task.num_classes,
        features,
        reference,
        counts,
        intra_classes=classes,
        metrics=metrics,
        classifier=classifier,
        seed=args.seed,
        device=args.device,
    )
    return {**result, "reference": source, "generator": "raw" if args.raw else "ema"}


# Task class -> evaluator; the most specific registered class wins.
EVALUATORS: dict[type[AdversarialTask], Callable[..., Result]] = {
    ClassConditionalGAN: evaluate_gan,
    Inpainting: evaluate_inpaint,
}


def _ints(spec: str) -> list[int]:
    try:
        return [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"expected a comma list of integers, got {spec!r}") from None


def evaluator_for(task: AdversarialTask) -> Callable[..., Result]:
    for cls in type(task).__mro__:
        if cls in EVALUATORS:
            return EVALUATORS[cls]
    raise ValueError(f"no evaluator for {type(task).__name__} checkpoints")


def write_record(ckpt: Path, record: dict) -> Path:
    """Append ``record`` to ``<checkpoint>.eval.json`` (a list: earlier runs are kept)."""
    path = ckpt.with_suffix(".eval.json")
    records = json.loads(path.read_text()) if path.is_file() else []
    records.append(record)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)
    return path


def print_table(ckpt: Path, g_iter: int, result: Result) -> None:
    table = Table(title=f"{ckpt} (generator iteration {g_iter})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)


def main(argv: list[str] | None = None) -> Result:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with command_errors():
        task, ckpt = load_task(args.checkpoint, device="cpu")
        start = time.perf_counter()
        result = evaluator_for(task)(task, ckpt, args)
    record = {
        "checkpoint": str(ckpt),
        "task": type(task).__name__,
        "g_iter": task.g_iter,
        "seed": args.seed,
        "device": str(args.device),
        "seconds": round(time.perf_counter() - start, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": result,
    }
    print_table(ckpt, task.g_iter, result)
    print(f"wrote {write_record(ckpt, record)}")
    return result


if __name__ == "__main__":
    main()
