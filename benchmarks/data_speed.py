"""Images/s of the shard loader vs plain folders of the same 128x128 JPEGs.

    MALLOC_MMAP_THRESHOLD_=68719476736 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python -m benchmarks.data_speed --out benchmarks/results/data_speed.json

Data: random crops (scale and position) of the two real photos that ship inside
scikit-learn (``china.jpg``, ``flower.jpg``; label = photo), brought to 128x128 the SN-GAN
way and saved as JPEG (quality 95) into a ``<class>/<image>`` folder; the shards are
written from that folder by ``an_lightning.data.shards`` (same size and quality).

Loaders (batch 64, shuffled, random horizontal flip, output float32 in [-1, 1]):
- ``folder (per-image PIL)``: the usual map-style baseline; PIL decode, PIL flip and
  float conversion per image in the workers, default collate.
- ``FolderDataModule``: PIL decode per file in the workers, uint8 batches; flip + scaling
  once per batch (kornia, ``to_model_batch``) in the main process.
- ``ShardDataModule``: sequential tar reads and libjpeg-turbo decode in the workers, flip
  and channel split (OpenCV) into reused (shared-memory) uint8 batch buffers; scaling
  as above.
  In training that last step runs on the GPU (after the uint8 batch is transferred);
  here it is timed on the CPU, in the main process.
- ``ShardDataModule, uint8 out``: the same loader without that last step, i.e. what
  the loader itself delivers when scaling runs on the GPU; each batch is copied into a
  reused buffer, as ``pin_memory`` does before the transfer.
Each configuration first delivers one untimed epoch's worth of batches (workers start,
page cache warms), then ``--epochs`` epochs' worth are timed. The resampled shard stream
has no natural epoch end, so it runs as one long epoch of the same number of batches:
cutting it into short epochs would discard the batches its workers had prefetched at
every boundary (2 per worker), which a real ImageNet epoch (20k batches) never notices.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from an_lightning.data import FolderDataModule, ShardDataModule
from an_lightning.data.preprocess import sngan_resize
from an_lightning.data.shards import Options, write_shards
from an_lightning.data.sources import Item, discover


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


class PerImageFolder(Dataset):
    """The naive baseline: every transform per image, as an ImageFolder pipeline would."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        item = self.items[i]
        with Image.open(item.path) as image:
            image = image.convert("RGB")
            if random.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(127.5).sub(1)
        return x, item.label


def loaders(folder: Path, shards: Path, workers: int, batch: int, n: int, epochs: int) -> dict:
    per_image = DataLoader(
        PerImageFolder(discover(folder).items),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    folder_dm = FolderDataModule(str(folder), image_size=128, batch_size=batch, num_workers=workers)

    def shard_loader():  # one per measurement: a shared loader would hand the second
        # measurement the batches its workers prefetched during the first
        dm = ShardDataModule(
            str(shards / "shard-*.tar"),
            batch_size=batch,
            num_workers=workers,
            batches_per_epoch=(epochs + 1) * (n // batch),
        )
        return dm, dm.train_dataloader()

    def flipped(dm):  # what on_after_batch_transfer does while training
        return lambda batch: dm.to_model_batch(batch, flip=dm.device_flip)

    shard_dm, shard_flipped = shard_loader()
    _, shard_uint8 = shard_loader()
    return {
        "folder (per-image PIL)": (per_image, lambda batch: batch),
        "FolderDataModule": (folder_dm.train_dataloader(), flipped(folder_dm)),
        "ShardDataModule": (shard_flipped, flipped(shard_dm)),
        "ShardDataModule, uint8 out": (shard_uint8, staged()),
    }


def staged():
    """Copy each uint8 batch into one reused buffer, as ``pin_memory`` does before the
    transfer to the GPU: reading a batch that arrived in a worker's shared memory costs
    page faults (measured: ~60 us/image of system time in the main process at 128px),
    which a loader that hands the batch on unread would leave out."""
    buffer: dict[tuple, torch.Tensor] = {}

    def copy(batch):
        images, labels = batch
        out = buffer.setdefault(tuple(images.shape), torch.empty_like(images))
        return out.copy_(images), labels

    return copy


def images_per_second(loader, to_model, warmup: int, timed: int) -> float:
    """Rate over ``timed`` batches after ``warmup`` batches, across epoch boundaries."""
    batches = (batch for _ in itertools.count() for batch in loader)
    for _ in range(warmup):
        to_model(next(batches))
    count, start = 0, time.perf_counter()
    for _ in range(timed):
        images, _ = to_model(next(batches))
        count += len(images)
    return count / (time.perf_counter() - start)


def measure(folder: Path, shards: Path, args: argparse.Namespace) -> dict:
    """{(loader, workers): [rate per repeat]}; repeats interleave to spread machine noise."""
    rates: dict[tuple[str, int], list[float]] = {}
    per_epoch = args.images // args.batch_size
    for repeat in range(args.repeats):
        for workers in args.workers:
            built = loaders(folder, shards, workers, args.batch_size, args.images, args.epochs)
            for name, (loader, to_model) in built.items():
                rate = images_per_second(loader, to_model, per_epoch, args.epochs * per_epoch)
                rates.setdefault((name, workers), []).append(rate)
                print(f"[{repeat}] {name:24s} workers={workers}: {rate:8.1f} images/s", flush=True)
            del built
    return rates


def table(rates: dict) -> list[dict]:
    rows = []
    for (name, workers), values in rates.items():
        base = statistics.median(rates[("folder (per-image PIL)", workers)])
        median = statistics.median(values)
        rows.append(
            {
                "loader": name,
                "workers": workers,
                "images_per_s": round(median, 1),
                "min": round(min(values), 1),
                "max": round(max(values), 1),
                "speedup": round(median / base, 2),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements per configuration")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the main process (1: the workers already use the cores; "
        "2 threads oversubscribe a 2-core machine and made float ops 10-50x slower here)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder, shards = Path(tmp) / "folder", Path(tmp) / "shards"
        make_jpegs(folder, args.images, 128)
        write_shards(folder, shards, Options(size=128, shard_size=128), progress=False)
        folder_bytes = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / args.images
        shard_bytes = sum(f.stat().st_size for f in shards.glob("*.tar")) / args.images
        rows = table(measure(folder, shards, args))
    print(
        f"\nbytes/image: folder {folder_bytes:.0f} (JPEG), shards {shard_bytes:.0f} (JPEG + tar)\n"
    )
    print("| loader | workers | images/s (median) | min-max | vs per-image folder |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in sorted(rows, key=lambda r: r["workers"]):
        spread = f"{r['min']:.0f}-{r['max']:.0f}"
        print(
            f"| {r['loader']} | {r['workers']} | {r['images_per_s']:.0f} | {spread} "
            f"| {r['speedup']:.2f}x |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {**vars(args), "out": str(args.out), "machine": platform.platform()}
        meta |= {"cpus": os.cpu_count(), "torch": torch.__version__}
        meta |= {"bytes_per_image": {"folder": folder_bytes, "shards": shard_bytes}}
        args.out.write_text(json.dumps({"config": meta, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
