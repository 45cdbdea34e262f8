"""How often a classifier trained on the real digits names the class the demo's G was asked for.

    python -m benchmarks.demo_classes runs/demo [--per-class 100] \\
        [--out benchmarks/results/demo_classes.json]

The demo's goal, "every row of the final grid recognisably its digit" (docs/results.md),
judged by eye is one person's reading of 80 small images; this counts instead. The
classifier is an RBF support-vector machine (scikit-learn's ``SVC``, C = 10) on the
demo's real digits, each image averaged down to 8x8 grey: the digits' own resolution,
from which the data module upsampled them, so generated images are read at the detail
the data has. It is fitted on 1,500 of the 1,797 digits (a fixed split) and its accuracy
on the other 297 is measured in every run and reported beside the samples'.

Reported per class, for the EMA generator and for G itself: the share of ``--per-class``
samples (latents and labels from ``--seed``) that the classifier labels as the class they
were drawn for; and for the training grid itself (``ClassConditionalGAN.sample_grid``:
the EMA's samples at the run's fixed latents, as ``samples/grid_*.png`` shows them).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from an_lightning.cli import preflight
from an_lightning.cli.checkpoint import resolve_checkpoint
from an_lightning.cli.errors import command_errors
from an_lightning.data.digits_data import load_digits_uint8

NUM_DIGITS = 10
HELD_OUT = 297  # of the 1,797 digits; the classifier is fitted on the other 1,500
SIDE = 8  # the digits' native resolution
BATCH = 250


def digit_features(images: Tensor) -> np.ndarray:
    """(N, 64) features: the images in grey, averaged down to 8x8, in [0, 1].

    Takes uint8 images (the data) or G's float output in [-1, 1]."""
    x = images.float().mean(1, keepdim=True)
    x = x / 255.0 if images.dtype == torch.uint8 else (x + 1) / 2
    return F.adaptive_avg_pool2d(x, SIDE).flatten(1).numpy()


def fit_classifier(resolution: int, seed: int = 0):
    """The SVC fitted on 1,500 real digits at ``resolution``, and its held-out accuracy."""
    from sklearn.svm import SVC

    images, labels = load_digits_uint8(resolution)
    order = np.random.RandomState(seed).permutation(len(images))
    held, fit = order[:HELD_OUT], order[HELD_OUT:]
    clf = SVC(C=10.0, gamma="scale").fit(digit_features(images[fit]), labels[fit].numpy())
    held_out = float((clf.predict(digit_features(images[held])) == labels[held].numpy()).mean())
    return clf, held_out


def row_accuracy(clf, images: Tensor, labels: Tensor) -> list[float]:
    """Per digit 0..9: the share of ``images`` drawn for it that ``clf`` labels so."""
    predicted = torch.from_numpy(clf.predict(digit_features(images)))
    return [float((predicted[labels == c] == c).float().mean()) for c in range(NUM_DIGITS)]


@torch.no_grad()
def class_accuracy(clf, g: nn.Module, per_class: int, seed: int) -> list[float]:
    """Per digit: the share of ``per_class`` samples of ``g`` the classifier labels right."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(NUM_DIGITS * per_class, g.z_dim, generator=rng)
    y = torch.arange(NUM_DIGITS).repeat_interleave(per_class)
    g = g.eval()
    images = torch.cat([g(zc, yc) for zc, yc in zip(z.split(BATCH), y.split(BATCH), strict=True)])
    return row_accuracy(clf, images, y)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.demo_classes", description=__doc__)
    p.add_argument("checkpoint", help="a run directory (its newest intact checkpoint) or .ckpt")
    p.add_argument("--per-class", type=int, default=100, help="samples per digit")
    p.add_argument("--seed", type=int, default=123, help="of the latents")
    p.add_argument("--out", type=Path, help="JSON file to write")
    return p.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    """The whole record; bad input raises before anything is computed."""
    if args.per_class < 1:
        raise ValueError(f"--per-class {args.per_class}: pass at least 1")
    ckpt = resolve_checkpoint(args.checkpoint)
    from an_lightning.tasks import ClassConditionalGAN

    task, ckpt = preflight.load_checkpoint(ckpt, ClassConditionalGAN)
    if task.num_classes != NUM_DIGITS or task.sample_classes != list(range(NUM_DIGITS)):
        raise ValueError(
            f"{ckpt} is a {task.num_classes}-class model showing classes "
            f"{task.sample_classes}: this reads the digits demo (experiments/demo.yaml), "
            "10 classes shown in order"
        )
    clf, held_out = fit_classifier(task.image_size)
    cols = task.hparams.samples_per_class
    accuracy = {
        "ema": class_accuracy(clf, task.g_ema.module, args.per_class, args.seed),
        "raw": class_accuracy(clf, task.generator, args.per_class, args.seed),
        "grid": row_accuracy(
            clf, task.sample_grid(), torch.arange(NUM_DIGITS).repeat_interleave(cols)
        ),
    }
    return {
        "checkpoint": str(ckpt),
        "g_iter": task.g_iter,
        "per_class": args.per_class,
        "grid_per_class": cols,
        "seed": args.seed,
        "classifier": {"kind": "SVC(C=10, rbf) on 8x8 grey", "held_out_accuracy": held_out},
        "accuracy": accuracy,
        "mean": {k: float(np.mean(v)) for k, v in accuracy.items()},
        "min": {k: min(v) for k, v in accuracy.items()},
        "machine": {"platform": platform.platform(), "cpu": platform.processor()},
    }


def print_table(result: dict) -> None:
    acc = result["accuracy"]
    print(
        f"{result['checkpoint']} (G iteration {result['g_iter']}): share labelled as asked; "
        f"classifier {result['classifier']['held_out_accuracy']:.3f} on held-out real digits"
    )
    print(f"| digit | EMA ({result['per_class']}) | G ({result['per_class']}) | grid (EMA) |")
    print("| --- | --- | --- | --- |")
    for c in range(NUM_DIGITS):
        print(f"| {c} | {acc['ema'][c]:.2f} | {acc['raw'][c]:.2f} | {acc['grid'][c]:.2f} |")
    for stat in ("mean", "min"):
        s = result[stat]
        print(f"| {stat} | {s['ema']:.3f} | {s['raw']:.3f} | {s['grid']:.3f} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with command_errors():
        result = measure(args)
    print_table(result)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
