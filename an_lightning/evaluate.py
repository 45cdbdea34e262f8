"""Evaluate a checkpoint: ``python -m an_lightning.evaluate RUN_DIR_OR_CKPT [options]``.

Prints a table and appends a record (numbers, feature network, sample counts, reference
data) to ``<checkpoint>.eval.json`` next to the checkpoint. Each task kind has its own
evaluator (``cli/evaluators.py``); a class-conditional GAN is scored with FID, KID, IS,
PRDC, intra-FID and class accuracy of its raw and EMA generators (``--generator``; keys
``fid/raw``, ``fid/ema``, see ``cli/evaluate_generators.py``) against cached reference
statistics (docs/metrics.md; ``cli/evaluate_gan.py``); an inpainting model with PSNR, SSIM
and MAE on the fixed evaluation masks (``cli/evaluate_inpaint.py``; ``--ref`` then names a
folder of test images).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .cli import preflight
from .cli.checkpoint import resolve_checkpoint, task_class
from .cli.errors import CommandParser, command_errors
from .cli.evaluate_generators import add_generator_options, resolve_generator_options
from .cli.evaluators import Result, evaluator_for
from .cli.generator_args import add_checkpoint_arg, add_device_arg
from .cli.quiet import EVALUATE_NOISE, ignored_warnings
from .cli.reference_source import check_ref
from .files import exclusive, replace_atomically
from .metrics.data_reference import default_cache_dir
from .metrics.features import SOURCES
from .metrics.suite import METRICS
from .tasks import AdversarialTask


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = CommandParser(prog="python -m an_lightning.evaluate", description=__doc__)
    add_checkpoint_arg(p)
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
    p.add_argument(
        "--classifier",
        "--is-classifier",
        dest="classifier",
        help="TorchScript: uint8 images -> logits; for IS offline and for accuracy (logits "
        "over the model's classes)",
    )
    p.add_argument("--kid-subset-size", type=int, help="default: min(1000, samples / 2, reals / 2)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--num-workers", type=int, default=2, help="data loader workers (reference)")
    add_device_arg(p)
    p.add_argument("--seed", type=int, default=0, help="of latents and labels")
    p.add_argument(
        "--truncation",
        type=float,
        help="GAN: redraw latent components beyond this magnitude (BigGAN's truncation "
        "trick; default none, as in the paper); the record carries it",
    )
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
    if args.classifier and not Path(args.classifier).is_file():
        raise FileNotFoundError(f"--classifier {args.classifier} does not exist")
    spec = args.feature_network
    if spec not in SOURCES and not spec.startswith("timm:") and not Path(spec).is_file():
        raise FileNotFoundError(
            f"--feature-network {spec} is neither one of {', '.join(SOURCES)}, timm:<model>, "
            "nor an existing TorchScript file"
        )
    if args.ref:
        check_ref(args.ref)
    ckpt = resolve_checkpoint(args.checkpoint)
    evaluator_for(task_class(ckpt)).check(args)
    read_records(ckpt)  # a damaged record file fails now, not after the evaluation
    preflight.writable_location(ckpt.parent, "the record next to the checkpoint")
    return ckpt


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
    """Append ``record`` to ``<checkpoint>.eval.json`` (a list: earlier runs are kept).

    Evaluations of one checkpoint may end at the same time (an array job scoring it with
    different options): each appends under the lock ``.<checkpoint>.eval.lock``, so none
    rewrites the list without another's record."""
    path = ckpt.with_suffix(".eval.json")
    with exclusive(ckpt.with_name(f".{ckpt.stem}.eval.lock")):
        records = [*read_records(ckpt), record]
        replace_atomically(path, lambda file: file.write(json.dumps(records, indent=1).encode()))
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
        result = evaluator_for(type(task)).evaluate(task, ckpt, args)
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
