"""Real training iterations of the paper model through ``an_lightning.fit``, checked.

The GPU kit's proof that the full stack trains on the device in bf16: the model of
``experiments/imagenet.yaml`` (ch 64, AN with n = 16 in the 32x32 block of G and D) on
a small 128 px image folder made here with a fixed seed (random crops of the two photos
that ship inside scikit-learn, as ``data_speed`` makes them: 2 classes, so
``num_classes`` is overridden where the config sets it), one GPU, a CSV logger and no
FID/layout callbacks (their networks and data are not on the machine). Passes when fit
exits 0, the checkpoint of the last generator iteration is written and every logged
loss is finite.

    python -m benchmarks.gpu_fit --out FILE.json [--iters 200] [--smoke]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.data_speed import make_jpegs

CONFIG = Path("experiments/imagenet.yaml")
NUM_CLASSES = 2  # make_jpegs labels each crop by its photo


def fit_command(args: argparse.Namespace, data: Path, run_dir: Path) -> list[str]:
    model, g, d = (
        "--model.init_args",
        "--model.init_args.generator",
        "--model.init_args.discriminator",
    )
    cmd = [sys.executable, "-m", "an_lightning.fit", str(CONFIG)]
    cmd += [f"--run_dir={run_dir}", f"--checkpoint_every={args.checkpoint_every}"]
    cmd += [f"{model}.max_g_steps={args.iters}", f"{model}.ema_start={args.iters // 2}"]
    nets = yaml.safe_load(CONFIG.read_text())["model"]["init_args"]
    for key, net in (("generator", g), ("discriminator", d)):
        if "num_classes" in nets[key]["init_args"]:  # else the nets take it from the data
            cmd.append(f"{net}.init_args.num_classes={NUM_CLASSES}")
    if args.ch is not None:
        cmd += [f"{net}.init_args.ch={args.ch}" for net in (g, d)]
    cmd += [
        "--data=an_lightning.data.FolderDataModule",
        f"--data.init_args.root={data}",
        f"--data.init_args.batch_size={args.batch}",
        f"--data.init_args.num_workers={args.workers}",
        f"--trainer.accelerator={args.accelerator}",
        "--trainer.devices=1",
        "--trainer.strategy=auto",
        "--trainer.sync_batchnorm=false",
        f"--trainer.precision={args.precision}",
        "--trainer.logger=an_lightning.loggers.CSVLogger",
        "--trainer.callbacks=[]",
        "--trainer.enable_progress_bar=false",
        f"--trainer.log_every_n_steps={args.log_every}",
    ]
    return cmd


def read_losses(metrics: Path) -> tuple[list[dict[str, float]], int | None]:
    """The logged ``loss/*`` values per row, and the last generator iteration logged."""
    if not metrics.is_file():
        return [], None
    with metrics.open() as f:
        rows = list(csv.DictReader(f))
    losses = [
        {k: float(v) for k, v in row.items() if k.startswith("loss/") and v not in ("", None)}
        for row in rows
    ]
    iters = [float(r["g_iter"]) for r in rows if r.get("g_iter")]
    return [row for row in losses if row], int(max(iters)) if iters else None


def check(args: argparse.Namespace, work: Path) -> dict:
    data, run_dir = work / "data", work / "run"
    make_jpegs(data, args.images, 128, seed=args.seed)
    cmd = fit_command(args, data, run_dir)
    print(" ".join(cmd), flush=True)
    start = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    seconds = time.perf_counter() - start
    ckpt = run_dir / "checkpoints" / f"g_iter={args.iters:07d}.ckpt"
    losses, last_iter = read_losses(run_dir / "metrics.csv")
    finite = bool(losses) and all(math.isfinite(v) for row in losses for v in row.values())
    if args.keep_metrics and (run_dir / "metrics.csv").is_file():
        shutil.copy(run_dir / "metrics.csv", args.keep_metrics)
    return {
        "command": cmd,
        "iters": args.iters,
        "batch": args.batch,
        "precision": args.precision,
        "images": args.images,
        "exit_code": rc,
        "seconds": seconds,
        "checkpoint": ckpt.name if ckpt.is_file() else None,
        "checkpoint_mb": ckpt.stat().st_size / 2**20 if ckpt.is_file() else None,
        "last_g_iter_logged": last_iter,
        "loss_rows": len(losses),
        "losses_finite": finite,
        "last_losses": losses[-1] if losses else None,
        "passed": rc == 0 and ckpt.is_file() and finite,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="the result as JSON")
    p.add_argument("--iters", type=int, default=200, help="generator iterations")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch", type=int, default=32, help="the config's per-GPU batch")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--ch", type=int, default=None, help="default: the config's (64)")
    p.add_argument("--accelerator", default="gpu")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=10, help="trainer.log_every_n_steps")
    p.add_argument("--seed", type=int, default=0, help="of the generated images")
    p.add_argument("--keep-metrics", type=Path, help="copy metrics.csv here")
    p.add_argument("--smoke", action="store_true", help="CPU plumbing check: tiny sizes")
    args = p.parse_args(argv)
    if args.smoke:
        args.iters, args.images, args.batch, args.workers, args.ch = 4, 32, 8, 1, 8
        args.accelerator, args.checkpoint_every, args.log_every = "cpu", 2, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpu_fit_") as tmp:  # checkpoints are large
        result = check(args, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    verdict = "PASS" if result["passed"] else "FAIL"
    print(
        f"{verdict}: exit {result['exit_code']}, checkpoint {result['checkpoint']}, "
        f"losses finite: {result['losses_finite']} ({result['loss_rows']} rows)"
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
