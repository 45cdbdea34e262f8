"""How much JPEG q95 re-encoding of the reference shifts FID, measured on real photos.

    python -m an_lightning.metrics.jpeg_shift [--crops 600] [--size 128] [--out FILE.json]

Random square crops of the real photos that ship with scikit-image and scikit-learn
(no download) are preprocessed like the shard writer does (``sngan_resize``: PIL
bicubic, antialiased) and split into two disjoint halves A and B. Each half exists
lossless and as JPEG (the writer's ``preprocess.encode`` at ``--quality``, decoded by
the shard reader's ``pipeline.image_decoder``). FID and KID between the versions say how
far a JPEG-decoded reference moves the numbers: ``A lossless vs B lossless`` is the
sampling floor at this N, ``A lossless vs B JPEG`` what a lossless generator output
scored against a JPEG reference gets. FID at small N is biased upwards (the floor is not
0), so read the differences; KID is unbiased. Features: the offline TF-Inception port
(``--feature-network``, as in ``evaluate``). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn
from torchmetrics.image.kid import KernelInceptionDistance

from ..data.photos_data import PHOTOS
from ..data.pipeline import image_decoder
from ..data.preprocess import encode, sngan_resize
from .features import InceptionFeatures, load_feature_network

PAIRS = {
    "A lossless vs B lossless": ("A", "lossless", "B", "lossless"),
    "A JPEG vs B JPEG": ("A", "jpeg", "B", "jpeg"),
    "A lossless vs B JPEG": ("A", "lossless", "B", "jpeg"),
    "A JPEG vs B lossless": ("A", "jpeg", "B", "lossless"),
    "A lossless vs A JPEG (same images)": ("A", "lossless", "A", "jpeg"),
}


def real_photos() -> dict[str, Image.Image]:
    """The RGB photos installed with scikit-image (the embedded photo set's; PNG files but
    rocket, hubble_deep_field and retina, JPEGs at several times the crop size) and
    scikit-learn's two sample JPEGs, by name."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = {name: Image.fromarray(getattr(data, name)()) for name in PHOTOS}
    sample = load_sample_images()
    for name, array in zip(sample.filenames, sample.images, strict=True):
        photos[Path(name).stem] = Image.fromarray(array)
    return photos


def random_crops(
    photos: list[Image.Image], count: int, size: int, seed: int, min_fraction: float = 0.25
) -> list[Image.Image]:
    """``count`` crops: a random photo, a random square of ``min_fraction`` ... 1 of its
    short side (at least ``size``), resized by the shard writer's ``sngan_resize``."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        w, h = photo.size
        short = min(w, h)
        side = min(short, max(size, round(short * rng.uniform(min_fraction, 1))))
        left, top = int(rng.integers(w - side + 1)), int(rng.integers(h - side + 1))
        crops.append(sngan_resize(photo.crop((left, top, left + side, top + side)), size))
    return crops


def encodings(crops: list[Image.Image], quality: int) -> dict[str, Tensor]:
    """uint8 (N, 3, H, W) of the crops lossless and through JPEG as the shards hold them."""
    decode = image_decoder(crops[0].size[0], fast=True)
    lossless = np.stack([np.asarray(c) for c in crops])
    jpeg = np.stack([decode("x.jpg", encode(c, "jpg", quality)) for c in crops])
    return {
        name: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()
        for name, a in (("lossless", lossless), ("jpeg", jpeg))
    }


def pool_features(features: InceptionFeatures, images: Tensor, batch_size: int) -> Tensor:
    return torch.cat([features(b)["pool"].cpu() for b in images.split(batch_size)])


def frechet_from_features(a: Tensor, b: Tensor) -> float:
    """``frechet_distance`` of the Gaussians of two (N, D) feature sets, exactly, in
    O(N^2 D): Tr (S_a S_b)^(1/2) is the sum of the singular values of X_a X_b^T (centred
    features) over sqrt((N_a - 1)(N_b - 1)). With N << D = 2048 this takes a fraction
    of a second instead of two 2048^2 eigendecompositions (16 s each on a busy core)."""
    xa, xb = a.double(), b.double()
    mu_a, mu_b = xa.mean(0), xb.mean(0)
    xa, xb = xa - mu_a, xb - mu_b
    na, nb = len(xa), len(xb)
    trace_sqrt = torch.linalg.svdvals(xa @ xb.T).sum() / ((na - 1) * (nb - 1)) ** 0.5
    diff = mu_a - mu_b
    traces = xa.square().sum() / (na - 1) + xb.square().sum() / (nb - 1)
    return float(diff @ diff + traces - 2 * trace_sqrt)


def kid(a: Tensor, b: Tensor, subset_size: int, seed: int) -> tuple[float, float]:
    """Unbiased KID (mean, std over 100 subsets) of two feature sets."""
    torch.manual_seed(seed)  # torchmetrics draws the subsets from the global generator
    with warnings.catch_warnings():  # "will save all extracted features": a few thousand
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=nn.Identity(), subset_size=subset_size)
    metric.update(a.double(), real=True)
    metric.update(b.double(), real=False)
    mean, std = metric.compute()
    return float(mean), float(std)


def measure(
    crops: int = 600,
    size: int = 128,
    quality: int = 95,
    seed: int = 0,
    batch_size: int = 50,
    feature_network: str = "fid-helper",
) -> dict:
    """FID and KID of every pair in ``PAIRS`` on ``crops`` random crops (two halves)."""
    if crops < 8 or size < 8 or not 1 <= quality <= 100:
        raise ValueError("need crops >= 8, size >= 8 and quality within 1..100")
    start = time.perf_counter()
    photos = real_photos()
    images = encodings(random_crops(list(photos.values()), crops, size, seed), quality)
    half = crops // 2
    error = (images["jpeg"].float() - images["lossless"].float()).abs()
    mse = error.square().mean().item()
    features = load_feature_network(feature_network)
    begin = time.perf_counter()
    feats = {
        (part, kind): pool_features(features, images[kind][rows], batch_size)
        for kind in ("lossless", "jpeg")
        for part, rows in (("A", slice(0, half)), ("B", slice(half, 2 * half)))
    }
    inception_s = time.perf_counter() - begin
    subset = max(2, min(1000, half // 2))
    rows = {}
    for label, (pa, ka, pb, kb) in PAIRS.items():
        a, b = feats[pa, ka], feats[pb, kb]
        fid = frechet_from_features(a, b)
        kid_mean, kid_std = kid(a, b, subset, seed)
        rows[label] = {"fid": fid, "kid_mean": kid_mean, "kid_std": kid_std}
    floor = rows["A lossless vs B lossless"]["fid"]
    return {
        "command": "python -m an_lightning.metrics.jpeg_shift "
        f"--crops {crops} --size {size} --quality {quality} --seed {seed}",
        "photos": sorted(photos),
        "crops": crops,
        "per_half": half,
        "size": size,
        "quality": quality,
        "seed": seed,
        "feature_network": features.name,
        "kid_subset_size": subset,
        "jpeg_pixel_mae": error.mean().item(),
        "jpeg_psnr_db": 10 * float(np.log10(255**2 / mse)) if mse else float("inf"),
        "pairs": rows,
        "fid_shift_lossless_vs_jpeg_reference": rows["A lossless vs B JPEG"]["fid"] - floor,
        "threads": torch.get_num_threads(),
        "inception_images": 4 * half,
        "inception_seconds": round(inception_s, 1),
        "seconds": round(time.perf_counter() - start, 1),
    }


def print_table(result: dict) -> None:
    table = Table(
        title=f"JPEG q{result['quality']} vs lossless, {result['per_half']} crops of "
        f"{result['size']}px per half ({result['feature_network']})"
    )
    for column in ("pair", "FID", "KID x 1000"):
        table.add_column(column, justify="left" if column == "pair" else "right")
    for label, row in result["pairs"].items():
        kid_text = f"{row['kid_mean'] * 1000:.2f} ± {row['kid_std'] * 1000:.2f}"
        table.add_row(label, f"{row['fid']:.3f}", kid_text)
    Console().print(table)
    print(
        f"JPEG pixels: mean abs error {result['jpeg_pixel_mae']:.2f}/255, PSNR "
        f"{result['jpeg_psnr_db']:.1f} dB; FID shift (A lossless vs B JPEG minus the "
        f"lossless floor): {result['fid_shift_lossless_vs_jpeg_reference']:+.3f}; "
        f"{result['seconds']} s on {result['threads']} thread(s)"
    )


def main(
    argv: list[str] | None = None,
    errors: Callable[[], AbstractContextManager] = nullcontext,
) -> dict:
    """Parse ``argv``, measure, print and write the JSON; bad input raises inside
    ``errors()`` (the command passes ``cli.errors.command_errors``: one line, exit 2)."""
    p = argparse.ArgumentParser(
        prog="python -m an_lightning.metrics.jpeg_shift", description=__doc__
    )
    p.add_argument("--crops", type=int, default=600, help="crops in all, two halves (600)")
    p.add_argument("--size", type=int, default=128, help="crop side in pixels (128)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (95, the writer's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--feature-network", default="fid-helper", help="as in evaluate")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=Path("jpeg_shift.json"), help="JSON output")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with errors():
        result = measure(
            args.crops, args.size, args.quality, args.seed, args.batch_size, args.feature_network
        )
        print_table(result)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    # Entry-point code: only the command, not the library part, knows the CLI layer.
    from an_lightning.cli.errors import command_errors

    main(errors=command_errors)
