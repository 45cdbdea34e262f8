"""Images/s the loaders deliver beside images/s a training iteration consumes.

    OMP_WAIT_POLICY=PASSIVE MALLOC_MMAP_THRESHOLD_=68719476736 \\
        MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python -m benchmarks.data_speed --out benchmarks/results/data_speed.json
    # on a GPU (untested here: no GPU was lent to the session that wrote it)
    python -m benchmarks.data_speed --device cuda --precision bf16-mixed --out ...

Data: random crops (scale and position) of the two real photos that ship inside
scikit-learn (``china.jpg``, ``flower.jpg``; label = photo), brought to 128x128 the SN-GAN
way and saved as JPEG (quality 95) into a ``<class>/<image>`` folder; the shards are
written from that folder by ``an_lightning.data.shards`` (same size and quality).

Loaders, each at 0, 1 and 2 workers, batch 64, default configuration (shuffled, random
horizontal flips made in the loader), uint8 batches out: what training receives before
the transfer to the device (``to_model_batch`` then scales them there):
- ``ShardDataModule``: webdataset stages, JPEG decode by libjpeg-turbo (kornia-rs).
- ``ShardDataModule (PIL)``: the same with ``fast_jpeg=False``: does the decoder matter?
- ``FolderDataModule``: one PIL open + decode per file.
Every measurement gets a fresh loader (a shared one would hand the next measurement the
batches its workers prefetched) and is iterated across epochs, as training does (the
shard loader starts new workers every epoch; one epoch = one pass over the images):
``--epochs`` epochs' worth of batches are timed after one untimed epoch's worth.
Repeats interleave the loaders and worker counts; medians and min-max are reported.

Consumption: images/s of one ``ClassConditionalGAN`` iteration (D step + G step + EMA,
n_dis = 1, through Lightning) with the paper's 128 px network (ch 64, 1000 classes, AN at
32x32 in G and D), measured on ``--device`` in the same run (``train_speed``). Target:
the shard loader with one worker delivers at least 5x that. Until a GPU run exists the
GPU side is an *estimate*: FLOPs of one iteration per image, counted with
``torch.utils.flop_counter`` on the CPU, against a GPU's peak bf16 throughput.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from an_lightning.data import FolderDataModule, ShardDataModule
from an_lightning.data.preprocess import sngan_resize
from an_lightning.data.shards import Options, write_shards
from benchmarks import train_speed

SHARDS, SHARDS_PIL, FOLDER = "ShardDataModule", "ShardDataModule (PIL)", "FolderDataModule"
LOADERS = (SHARDS, SHARDS_PIL, FOLDER)
TARGET_RATIO = 5.0  # one worker delivers >= 5x what one training step consumes
# NVIDIA H200 SXM datasheet: 1,979 TFLOPS BF16 Tensor Core "with sparsity"; dense is half.
H200_BF16_DENSE_TFLOPS = 989.0


def make_jpegs(root: Path, n: int, size: int, seed: int = 0) -> None:
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(a) for a in load_sample_images().images]
    rng = random.Random(seed)
    for i in range(n):
        label = i % len(photos)
        photo = photos[label]
        side = rng.randint(size + 32, min(photo.size))
        x, y = rng.randint(0, photo.width - side), rng.randint(0, photo.height - side)
        crop = sngan_resize(photo.crop((x, y, x + side, y + side)), size)
        path = root / f"photo{label}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        crop.save(path, format="JPEG", quality=95)


def make_loader(name: str, folder: Path, shards: Path, workers: int, batch: int):
    """A fresh training loader, default configuration (hflip on, uint8 batches)."""
    if name == FOLDER:
        dm = FolderDataModule(str(folder), image_size=128, batch_size=batch, num_workers=workers)
    else:
        dm = ShardDataModule(
            str(shards / "shard-*.tar"),
            batch_size=batch,
            num_workers=workers,
            fast_jpeg=name == SHARDS,
        )
    return dm.train_dataloader()


def images_per_second(loader, warmup: int, timed: int) -> float:
    """Rate over ``timed`` batches after ``warmup`` batches, across epoch boundaries."""
    batches = (batch for _ in itertools.count() for batch in loader)
    try:
        for _ in range(warmup):
            next(batches)
        count, start = 0, time.perf_counter()
        for _ in range(timed):
            images, _ = next(batches)
            count += len(images)
        return count / (time.perf_counter() - start)
    finally:
        batches.close()
        if hasattr(loader, "close"):  # ShardLoader: stop this epoch's workers now
            loader.close()


def measure_loaders(folder: Path, shards: Path, args: argparse.Namespace) -> list[dict]:
    """One row per (loader, workers): median, min, max of the interleaved repeats."""
    rates: dict[tuple[str, int], list[float]] = {}
    per_epoch = args.images // args.batch_size
    for repeat in range(args.repeats):
        for workers in args.workers:
            for name in LOADERS:
                loader = make_loader(name, folder, shards, workers, args.batch_size)
                rate = images_per_second(loader, per_epoch, args.epochs * per_epoch)
                del loader
                gc.collect()  # a persistent DataLoader's workers end with it
                rates.setdefault((name, workers), []).append(rate)
                load = os.getloadavg()[0]
                print(
                    f"[{repeat}] {name:22s} workers={workers}: {rate:8.1f} images/s "
                    f"(load average {load:.2f})",
                    flush=True,
                )
    return [
        {
            "loader": name,
            "workers": workers,
            "images_per_s": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "repeats": values,
        }
        for (name, workers), values in rates.items()
    ]


def iteration_flops(ch: int, batch: int = 2) -> float:
    """FLOPs per image of one training iteration of the paper's 128 px network (the plain
    loop of ``train_speed``, the same work as the task's step), counted on the CPU. Only
    what ``FlopCounterMode`` counts: convolutions and matrix products, forward and
    backward; norms, activations, Adam and the EMA are left out (little arithmetic, but
    memory-bound on a GPU, so real iterations take longer than the count suggests)."""
    args = argparse.Namespace(
        ch=ch, num_classes=1000, iters=1, warmup=0, device="cpu", precision="32-true"
    )
    batch_ = train_speed.random_batch(batch, 128, 1000)
    with FlopCounterMode(display=False) as counter:
        train_speed.time_plain(128, "an", args, batch_)
    return counter.get_total_flops() / batch


def gpu_estimate(flops_per_image: float, loader_rate: float, args) -> dict:
    """Images/s of one GPU bounded by its peak, and at an assumed fraction of it."""
    ceiling = args.gpu_tflops * 1e12 / flops_per_image
    assumed = ceiling * args.gpu_utilisation
    return {
        "kind": "estimate (not a measurement)",
        "gpu": args.gpu_name,
        "flops_per_image": flops_per_image,
        "peak_tflops": args.gpu_tflops,
        "assumed_utilisation": args.gpu_utilisation,
        "ceiling_images_per_s": ceiling,
        "assumed_images_per_s": assumed,
        "loader_images_per_s": loader_rate,
        "ratio_at_ceiling": loader_rate / ceiling,
        "ratio_at_assumed": loader_rate / assumed,
        "met_at_ceiling": loader_rate / ceiling >= TARGET_RATIO,
        "met_at_assumed": loader_rate / assumed >= TARGET_RATIO,
    }


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        info["cpu"] = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
            platform.processor(),
        )
    except (OSError, subprocess.CalledProcessError):
        info["cpu"] = platform.processor()
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement")
    p.add_argument("--repeats", type=int, default=5, help="measurements per configuration")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the main process while loaders are timed (the workers use "
        "the cores; the training measurement uses all of them)",
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default=None, help="default: bf16-mixed on cuda, else 32-true")
    p.add_argument("--ch", type=int, default=64, help="network width (64: the paper's)")
    p.add_argument("--train-batch", type=int, default=None, help="default: 4 on CPU, 32 on GPU")
    p.add_argument("--train-iters", type=int, default=None, help="default: 3 on CPU, 25 on GPU")
    p.add_argument("--train-warmup", type=int, default=None, help="default: 1 on CPU, 5 on GPU")
    p.add_argument("--skip-train", action="store_true", help="no training measurement")
    p.add_argument("--gpu-name", default="NVIDIA H200 SXM")
    p.add_argument("--gpu-tflops", type=float, default=H200_BF16_DENSE_TFLOPS)
    p.add_argument(
        "--gpu-utilisation",
        type=float,
        default=0.3,
        help="assumed sustained fraction of the peak for the estimate (an assumption)",
    )
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    gpu = args.device != "cpu"
    args.precision = args.precision or ("bf16-mixed" if gpu else "32-true")
    args.train_batch = args.train_batch or (32 if gpu else 4)
    args.train_iters = args.train_iters or (25 if gpu else 3)
    if args.train_warmup is None:
        args.train_warmup = 5 if gpu else 1
    if args.train_iters <= args.train_warmup:
        p.error("--train-iters must exceed --train-warmup")
    if 1 not in args.workers:
        p.error("--workers must include 1 (the target is judged at one worker)")
    return args


def print_report(rows: list[dict], training: dict | None, estimate: dict, args) -> None:
    by = {(r["loader"], r["workers"]): r for r in rows}
    head = " | ".join(f"{name} images/s (min-max)" for name in LOADERS)
    print(f"\n| workers | {head} |")
    print("| ---: |" + " ---: |" * len(LOADERS))
    for workers in args.workers:
        cells = []
        for name in LOADERS:
            r = by[(name, workers)]
            cells.append(f"{r['images_per_s']:.0f} ({r['min']:.0f}-{r['max']:.0f})")
        print(f"| {workers} | " + " | ".join(cells) + " |")
    loader = by[(SHARDS, 1)]["images_per_s"]
    if training is not None:
        t = training
        print(
            f"\nmeasured: ClassConditionalGAN 128 px, ch {t['ch']}, {t['device']} "
            f"{t['precision']}, batch {t['batch']}: {t['s_per_iter']:.3g} s/iteration = "
            f"{t['images_per_s']:.3g} images/s consumed"
        )
        verdict = "met" if t["met"] else "NOT met"
        print(
            f"measured ratio, {SHARDS} 1 worker / training: {loader:.0f} / "
            f"{t['images_per_s']:.3g} = {t['ratio']:.3g}x (target >= {TARGET_RATIO:g}x: "
            f"{verdict} on {t['device']})"
        )
    e = estimate
    print(
        f"\nESTIMATE (not measured) for one {e['gpu']}: {e['flops_per_image'] / 1e9:.1f} "
        f"GFLOP per image per iteration (counted, ch {args.ch}) against {e['peak_tflops']:g} "
        f"TFLOPS peak bf16: at most {e['ceiling_images_per_s']:.0f} images/s; at an assumed "
        f"{e['assumed_utilisation']:.0%} of peak {e['assumed_images_per_s']:.0f} images/s"
    )
    print(
        f"ESTIMATE ratio, {SHARDS} 1 worker (this machine) / GPU: "
        f"{e['ratio_at_ceiling']:.2f}x at the ceiling, {e['ratio_at_assumed']:.2f}x at "
        f"{e['assumed_utilisation']:.0%} (target >= {TARGET_RATIO:g}x: "
        f"{'met' if e['met_at_ceiling'] else 'not met'} / "
        f"{'met' if e['met_at_assumed'] else 'not met'})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = os.getloadavg()  # other jobs on the cores skew every number here
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder, shards = Path(tmp) / "folder", Path(tmp) / "shards"
        make_jpegs(folder, args.images, 128)
        write_shards(folder, shards, Options(size=128, shard_size=128), progress=False)
        bytes_per_image = {
            "folder": sum(f.stat().st_size for f in folder.rglob("*.jpg")) / args.images,
            "shards": sum(f.stat().st_size for f in shards.glob("*.tar")) / args.images,
        }
        rows = measure_loaders(folder, shards, args)
    torch.set_num_threads(os.cpu_count() if args.device == "cpu" else threads)
    loader_rate = next(r for r in rows if (r["loader"], r["workers"]) == (SHARDS, 1))
    loader_rate = loader_rate["images_per_s"]
    training = None
    if not args.skip_train:
        training = train_speed.iteration_rate(
            args.train_batch,
            args.train_iters,
            args.train_warmup,
            ch=args.ch,
            device=args.device,
            precision=args.precision,
        )
        training["ratio"] = loader_rate / training["images_per_s"]
        training["met"] = training["ratio"] >= TARGET_RATIO
        training["loader_images_per_s"] = loader_rate
    estimate = gpu_estimate(iteration_flops(args.ch), loader_rate, args)
    print_report(rows, training, estimate, args)
    load_end = os.getloadavg()
    print(f"\nload average (1/5/15 min) at start {load_start}, at end {load_end}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        result = {
            "config": config,
            "machine": machine() | {"loadavg_start": load_start, "loadavg_end": load_end},
            "bytes_per_image": bytes_per_image,
            "loaders": rows,
            "target_ratio": TARGET_RATIO,
            "training": training,
            "gpu_estimate": estimate,
        }
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
