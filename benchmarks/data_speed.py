"""Images/s of the shard loader vs plain folders of the same 128x128 JPEGs.

    MALLOC_MMAP_THRESHOLD_=68719476736 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python -m benchmarks.data_speed --out benchmarks/results/data_speed.json

Data: random crops (scale and position) of the two real photos that ship inside
scikit-learn (``china.jpg``, ``flower.jpg``; label = photo), brought to 128x128 the SN-GAN
way and saved as JPEG (quality 95) into a ``<class>/<image>`` folder; the shards are
written from that folder by ``an_lightning.data.shards`` (same size and quality).

Loaders (batch 64, shuffled, random horizontal flip, output float32 in [-1, 1]):
- ``folder (per-image PIL)``: the usual map-style baseline; PIL decode, PIL flip and
  float conversion per image, default collate.
- ``FolderDataModule``: PIL decode per file, flip + scaling once per batch (kornia).
- ``ShardDataModule``: sequential tar reads, decode, flip + scaling once per batch.
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
import platform
import random
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
    shard_dm = ShardDataModule(
        str(shards / "shard-*.tar"),
        batch_size=batch,
        num_workers=workers,
        batches_per_epoch=(epochs + 1) * (n // batch),
    )
    return {
        "folder (per-image PIL)": per_image,
        "FolderDataModule": folder_dm.train_dataloader(),
        "ShardDataModule": shard_dm.train_dataloader(),
    }


def images_per_second(loader, warmup: int, timed: int) -> float:
    """Rate over ``timed`` batches after ``warmup`` batches, across epoch boundaries."""
    batches = (batch for _ in itertools.count() for batch in loader)
    for _ in range(warmup):
        next(batches)
    count, start = 0, time.perf_counter()
    for _ in range(timed):
        count += len(next(batches)[0])
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per configuration")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder, shards = Path(tmp) / "folder", Path(tmp) / "shards"
        make_jpegs(folder, args.images, 128)
        write_shards(folder, shards, Options(size=128, shard_size=128), progress=False)
        folder_bytes = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / args.images
        shard_bytes = sum(f.stat().st_size for f in shards.glob("*.tar")) / args.images
        for workers in args.workers:
            built = loaders(folder, shards, workers, args.batch_size, args.images, args.epochs)
            per_epoch = args.images // args.batch_size
            for name, loader in built.items():
                rate = images_per_second(loader, per_epoch, args.epochs * per_epoch)
                rows.append({"loader": name, "workers": workers, "images_per_s": round(rate, 1)})
                print(f"{name:24s} workers={workers}: {rate:8.1f} images/s", flush=True)
            del built
    print(f"\nJPEG bytes/image: folder {folder_bytes:.0f}, shards {shard_bytes:.0f} (incl. tar)\n")
    print("| loader | workers | images/s | vs per-image folder |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        base = next(
            r for r in rows if r["workers"] == row["workers"] and r["loader"].startswith("folder")
        )
        row["speedup"] = round(row["images_per_s"] / base["images_per_s"], 2)
        rate, speedup = row["images_per_s"], row["speedup"]
        print(f"| {row['loader']} | {row['workers']} | {rate:.0f} | {speedup:.2f}x |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "images": args.images,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "cpu_count": torch.get_num_threads(),
            "machine": platform.platform(),
            "torch": torch.__version__,
        }
        args.out.write_text(json.dumps({"config": meta, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
