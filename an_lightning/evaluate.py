"""Evaluate a checkpoint: ``python -m an_lightning.evaluate RUN_DIR_OR_CKPT [options]``.

Prints a table and appends a record (numbers, feature network, sample counts, reference
data) to ``<checkpoint>.eval.json`` next to the checkpoint. Each task kind has its own
evaluator in ``EVALUATORS``; a class-conditional GAN is scored with FID, KID, IS and
intra-FID of its raw and EMA generators (``--generator``; keys ``fid/raw``, ``fid/ema``,
see ``cli/evaluate_generators.py``) against cached reference statistics
(docs/metrics.md); an inpainting model with PSNR, SSIM and MAE on the fixed evaluation masks
(``cli/evaluate_inpaint.py``; ``--ref`` then names a folder of test images).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from .cli import preflight
from .cli.checkpoint import resolve_checkpoint, task_class
from .cli.errors import command_errors
from .cli.evaluate_generators import (
    add_generator_options,
    generator_names,
    resolve_generator_options,
    score_generators,
)
from .cli.evaluate_inpaint import check_inpaint_args, evaluate_inpaint, feature_network
from .cli.quiet import EVALUATE_NOISE, ignored_warnings
from .cli.reference_source import check_ref, data_at, training_data
from .metrics.data_reference import data_reference, default_cache_dir
from .metrics.features import SOURCES
from .metrics.reference import ReferenceStats
from .metrics.suite import METRICS, SampleCounts, evaluate_sampler
from .tasks import AdversarialTask, ClassConditionalGAN, Inpainting

Result = dict[str, float | int | str]


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
    add_generator_options(p)
    p.add_argument("--masks", help="inpainting: fixed mask set folder (default: the run's)")
    p.add_argument(
        "--cache-dir", type=Path, help=f"reference cache (default {default_cache_dir()})"
    )
    args = p.parse_args(argv)
    resolve_generator_options(p, args)
    return args


def check_args(args: argparse.Namespace) -> Path:
    """The checkpoint file, once the options usable for its task kind are (nothing written)."""
    for flag, minimum in [
        ("num_samples", 2),
        ("intra_samples", 2),
        ("batch_size", 1),
        ("reference_images", 1),
        ("num_workers", 0),
        ("kid_subset_size", 2),
    ]:
        preflight.at_least(getattr(args, flag), minimum, "--" + flag.replace("_", "-"))
    preflight.device(args.device)
    if args.is_classifier and not Path(args.is_classifier).is_file():
        raise FileNotFoundError(f"--is-classifier {args.is_classifier} does not exist")
    spec = args.feature_network
    if spec not in SOURCES and not spec.startswith("timm:") and not Path(spec).is_file():
        raise FileNotFoundError(
            f"--feature-network {spec} is neither one of {', '.join(SOURCES)}, timm:<model>, "
            "nor an existing TorchScript file"
        )
    if args.ref:
        check_ref(args.ref)
    ckpt = resolve_checkpoint(args.checkpoint)
    ARG_CHECKS[_registered(task_class(ckpt))](args)
    read_records(ckpt)  # a damaged record file fails now, not after the evaluation
    preflight.writable_location(ckpt.parent, "the record next to the checkpoint")
    return ckpt


def check_gan_args(args: argparse.Namespace) -> None:
    metric_names(args.metrics)
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
    if "is" in metrics and not (features.has_logits or args.is_classifier):
        raise ValueError(
            f"IS needs class logits and {features.name} has none: pass --is-classifier "
            "FILE.pt, use --feature-network torch-fidelity (online), or drop 'is'"
        )
    classifier = _classifier(args.is_classifier, args.device) if args.is_classifier else None
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
    result = score_generators(task, names, args.seed, score)
    return {**result, "reference": source, "generators": ",".join(names)}


def _classifier(path: str, device: str) -> torch.jit.ScriptModule:
    try:
        return torch.jit.load(path, map_location=device).eval()
    except Exception as err:
        raise ValueError(
            f"--is-classifier {path} is not a TorchScript file ({type(err).__name__}); save "
            "the classifier with torch.jit.save"
        ) from None


# Task class -> evaluator, and the check of its options; the most specific class wins.
EVALUATORS: dict[type[AdversarialTask], Callable[..., Result]] = {
    ClassConditionalGAN: evaluate_gan,
    Inpainting: evaluate_inpaint,
}
ARG_CHECKS: dict[type[AdversarialTask], Callable[[argparse.Namespace], None]] = {
    ClassConditionalGAN: check_gan_args,
    Inpainting: check_inpaint_args,
}


def _ints(spec: str) -> list[int]:
    try:
        return [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(
            f"--intra-classes: expected 'all' or a comma list of class ids, got {spec!r}"
        ) from None


def _registered(kind: type[AdversarialTask]) -> type[AdversarialTask]:
    for cls in kind.__mro__:
        if cls in EVALUATORS:
            return cls
    raise ValueError(f"no evaluator for {kind.__name__} checkpoints")


def evaluator_for(task: AdversarialTask) -> Callable[..., Result]:
    return EVALUATORS[_registered(type(task))]


def read_records(ckpt: Path) -> list:
    """The earlier records in ``<checkpoint>.eval.json`` (none if absent)."""
    path = ckpt.with_suffix(".eval.json")
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        reason = type(err).__name__
        raise ValueError(
            f"{path} is unreadable ({reason}): move it aside to start a new one"
        ) from None
    if not isinstance(records, list):
        raise ValueError(f"{path} holds no list of records: move it aside to start a new one")
    return records


def write_record(ckpt: Path, record: dict) -> Path:
    """Append ``record`` to ``<checkpoint>.eval.json`` (a list: earlier runs are kept)."""
    path = ckpt.with_suffix(".eval.json")
    records = read_records(ckpt)
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
    with command_errors(), ignored_warnings(*EVALUATE_NOISE):
        task, ckpt = preflight.load_checkpoint(check_args(args), AdversarialTask)
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
        path = write_record(ckpt, record)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
