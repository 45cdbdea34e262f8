"""Real image files, folders and shards for the data tests (imported, not collected)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size: tuple[int, int], seed: int, fmt: str = "JPEG") -> Path:
    """A smooth random colour image (JPEG-friendly) with a per-seed pattern, saved by PIL."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 256, 3)
    freq = rng.uniform(0.02, 0.2, 3)
    chans = [(base[c] + 100 * np.sin(freq[c] * (xx + 2 * yy + seed))) % 256 for c in range(3)]
    array = np.stack(chans, -1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return path


def class_folders(root: Path, classes: list[str], per_class: int, size=(40, 30)) -> list[Path]:
    paths = []
    for c, name in enumerate(classes):
        for i in range(per_class):
            paths.append(write_image(root / name / f"{name}_{i}.JPEG", size, seed=100 * c + i))
    return paths


def truncate(path: Path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep])


def image_hash(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def tensor_hashes(images) -> list[str]:
    """Hashes of the decoded pixels (HWC) of a uint8 batch or a float [-1, 1] batch."""
    if images.is_floating_point():
        images = ((images + 1) * 127.5).round().clamp(0, 255).byte()
    return [image_hash(a) for a in images.permute(0, 2, 3, 1).numpy()]


def shard_members(path: Path) -> dict[str, dict[str, bytes]]:
    """{key: {ext: bytes}} of one tar shard, read with the standard library."""
    out: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            key, ext = m.name.split(".", 1)
            out.setdefault(key, {})[ext] = tar.extractfile(m).read()
    return out


def decoded_hashes(shards: list[Path], mirrored: bool = False) -> dict[str, int]:
    """{pixel hash: label} of every sample in ``shards`` (the reference for loaders),
    of the left-right mirrored images if ``mirrored``."""
    result = {}
    for shard in shards:
        for sample in shard_members(shard).values():
            data = sample.get("jpg") or sample.get("png")
            array = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
            result[image_hash(array[:, ::-1] if mirrored else array)] = int(sample["cls"])
    return result
