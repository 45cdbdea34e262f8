"""Find the images of a dataset on disk and their integer labels.

Supported layouts (``discover`` picks one):

- ``<class>/<image>`` folders, which includes the ImageNet training layout
  ``train/<wnid>/*.JPEG``: class index = position of the folder name in sorted order, which
  is the standard ImageNet class index order (n01440764 -> 0, ..., n15075141 -> 999).
- A flat folder plus a ground-truth file (ImageNet validation). Accepted files:
  ``LOC_val_solution.csv`` (``ImageId,PredictionString``, first token the wnid) or
  ``<file> <label>`` lines, the label a class name or a 0-based integer: with
  ``classes=<train shards>/index.json`` their labels match the training shards. Also
  one 1-based id per line in sorted file-name order
  (``ILSVRC2012_validation_ground_truth.txt``), used as ``id - 1``: these ids follow the
  devkit's ``meta.mat`` order, *not* the sorted-wnid order of the training folders.
- A flat folder without ground truth (e.g. Paris StreetView for inpainting): label -1.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff"})
UNLABELLED = -1


@dataclass(frozen=True)
class Item:
    """One source image: absolute path, key relative to the root, integer label."""

    path: Path
    key: str
    label: int = UNLABELLED


@dataclass
class Source:
    items: list[Item]
    classes: list[str] = field(default_factory=list)  # empty: unlabelled
    layout: str = "flat"


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_image(p))


def read_classes(path: str | Path) -> list[str]:
    """Class names in index order: one per line, or the ``classes`` of a shard index.json."""
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix == ".json":
            return list(json.loads(text)["classes"])
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"cannot read class names from {path}: {exc}. Give a text file with one class "
            "name per line, or the index.json of shards written by an_lightning.data.shards."
        ) from None  # the root cause alone would drop the fix (cli.errors.root_cause)
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def class_folders(root: Path) -> Source:
    """``<class>/<image>`` layout; class indices follow sorted folder names."""
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    items = [
        Item(p, f"{d.name}/{p.name}", label) for label, d in enumerate(dirs) for p in _images(d)
    ]
    return Source(items, [d.name for d in dirs], "class-folders")


def _label_of(token: str) -> int | str:
    """A 0-based integer label, or a class name to look up."""
    return int(token) if token.lstrip("-").isdigit() else token


def with_ground_truth(root: Path, ground_truth: Path, classes: list[str] | None = None) -> Source:
    """Flat folder of images labelled by a ground-truth file (see module docstring)."""
    images = _images(root)
    lines = [ln.strip() for ln in ground_truth.read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"ground-truth file {ground_truth} is empty")
    rows = [ln.split(",", 1) if "," in ln else ln.split() for ln in lines]
    if rows[0][0].lower() in {"imageid", "file", "filename", "image"}:
        rows = rows[1:]  # a CSV header
    if all(len(r) == 1 for r in rows):  # ILSVRC devkit: 1-based ids in sorted file order
        if len(rows) != len(images):
            raise ValueError(
                f"{ground_truth} has {len(rows)} labels but {root} has {len(images)} images; "
                "a one-column ground-truth file labels the sorted images line by line, so "
                "both counts must match (use a '<file> <label>' file for subsets)."
            )
        pairs = zip(images, rows, strict=True)
        raw: dict[str, int | str] = {p.stem: int(r[0]) - 1 for p, r in pairs}
    else:
        raw = {Path(r[0]).stem: _label_of(r[1].split()[0]) for r in rows}
    names = [v for v in raw.values() if isinstance(v, str)]
    if classes is None:
        if names:
            classes = sorted(set(names))
        else:
            classes = [str(i) for i in range(max(int(v) for v in raw.values()) + 1)]
    lookup = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(names) - lookup.keys())
    if unknown:
        raise ValueError(f"{ground_truth} names classes not in the class list: {unknown[:5]}")
    missing = [p.name for p in images if p.stem not in raw]
    if missing:
        raise ValueError(
            f"{len(missing)} images in {root} have no label in {ground_truth} "
            f"(first: {missing[:3]}); fix the ground-truth file or move those images out."
        )
    items = []
    for p in images:
        value = raw[p.stem]
        label = lookup[value] if isinstance(value, str) else int(value)
        if not 0 <= label < len(classes):
            raise ValueError(f"label {value} of {p.name} is outside 0..{len(classes) - 1}")
        items.append(Item(p, p.name, label))
    return Source(items, list(classes), "ground-truth")


def discover(
    root: str | Path, ground_truth: str | Path | None = None, classes: str | Path | None = None
) -> Source:
    """Pick the layout of ``root`` and list its images, sorted by key."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"source folder {root} does not exist or is not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise ValueError(f"source folder {root} is not readable by you; fix its permissions")
    names = read_classes(classes) if classes is not None else None
    if ground_truth is not None and not Path(ground_truth).is_file():
        raise FileNotFoundError(f"ground-truth file {ground_truth} does not exist")
    if ground_truth is not None:
        source = with_ground_truth(root, Path(ground_truth), names)
    elif any(d.is_dir() and not d.name.startswith(".") for d in root.iterdir()):
        if _images(root):
            raise ValueError(
                f"{root} holds both images and sub-folders; use either <class>/<image> "
                "folders or one flat folder of images"
            )
        source = class_folders(root)
        if names is not None and names != source.classes:
            raise ValueError(f"class folders of {root} differ from the class list {classes}")
    else:
        source = Source([Item(p, p.name) for p in _images(root)])
    if not source.items:
        raise ValueError(
            f"no images found in {root} (looked for {sorted(IMAGE_EXTENSIONS)} files, "
            "flat or one folder level deep)"
        )
    return source
