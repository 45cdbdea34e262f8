"""Convert an image dataset into webdataset tar shards, resumably.

    python -m an_lightning.data.shards SRC OUT [--size 128] [--shard-size 1000] [--workers N]
        [--reference-images 50000]

Each sample holds ``<key>.jpg`` (or ``.png``) preprocessed the SN-GAN way, ``<key>.cls``
(integer label, -1 when unlabelled) and ``<key>.src`` (the source path relative to SRC).

Samples are shuffled with a fixed seed and assigned to shards *before* anything is
written, so an interrupted run recomputes the same plan and only writes the shards that
``progress.jsonl`` does not list yet: no sample is lost or duplicated. Shards are written
under a ``.tmp`` name and renamed when complete. ``index.json`` (counts per class and per
shard, skipped files) is written at the end. Nothing at all is written until one image is
known to encode: a source whose files are all unreadable leaves no empty shards behind.

FID reference statistics should not come from JPEG-re-encoded pixels (re-encoding shifts
FID; SN-GAN-style references are lossless), so the first ``--reference-images`` samples
of the shuffled order (a random subset, 50 000 by default; 0: none) are also kept as
lossless PNGs of the same preprocessed pixels, ``lossless/<label>/<key>.png``, listed in
``index.json`` as ``lossless_reference``; ``an_lightning.metrics.data_reference`` uses
them. PNG shards are lossless already and get no copies.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import webdataset as wds
from rich.progress import Progress

from an_lightning.data.preprocess import FORMATS, preprocess_file
from an_lightning.data.sources import Item, Source, discover
from an_lightning.files import Busy, exclusive

PROGRESS = "progress.jsonl"
INDEX = "index.json"
LOSSLESS = "lossless"
# Held by the one conversion writing a folder; a second one is refused (files.exclusive).
LOCK = ".lock"


@dataclass(frozen=True)
class Options:
    size: int = 128
    shard_size: int = 1000
    fmt: str = "jpg"
    quality: int = 95
    seed: int = 0
    prefix: str = "shard"


def plan_shards(items: Sequence[Item], shard_size: int, seed: int) -> list[list[tuple[int, Item]]]:
    """Shuffle (deterministically) and cut into shards of ``(sample_index, item)``."""
    order = sorted(items, key=lambda it: it.key)
    random.Random(seed).shuffle(order)
    numbered = list(enumerate(order))
    return [numbered[i : i + shard_size] for i in range(0, len(numbered), shard_size)]


def fingerprint(source: Source, options: Options) -> str:
    """Identifies a conversion: a resume with other options or other files is refused."""
    h = hashlib.sha256(json.dumps(asdict(options), sort_keys=True).encode())
    h.update(json.dumps(source.classes).encode())
    for item in sorted(source.items, key=lambda it: it.key):
        h.update(f"{item.key}\0{item.label}\n".encode())
    return h.hexdigest()[:16]


def shard_name(options: Options, index: int) -> str:
    return f"{options.prefix}-{index:06d}.tar"


def _read_progress(out: Path, fp: str, repair: bool = True) -> dict[int, dict]:
    """Completed shards of an earlier run into ``out``; refuse folders that are not ours.

    ``repair``: drop a last line cut off by an interruption from the file (only while
    holding the folder's lock: another conversion may be appending that line)."""
    path = out / PROGRESS
    if not path.exists():
        if out.exists() and any(p.name != LOCK for p in out.iterdir()):
            raise FileExistsError(
                f"output folder {out} is not empty and holds no {PROGRESS} of an earlier "
                "conversion; nothing was written. Choose a new or empty output folder."
            )
        return {}
    lines = _progress_records(path, repair)
    if not lines:
        if repair:
            path.unlink()  # only a cut-off header: start over
        return {}
    if lines[0].get("fingerprint") != fp:
        raise FileExistsError(
            f"{out} holds a conversion of other files or with other options (fingerprint "
            f"{lines[0].get('fingerprint') if lines else None}, this run {fp}); nothing was "
            "written. Rerun with the same SRC and options to resume, or choose a new folder."
        )
    return {rec["shard"]: rec for rec in lines[1:]}


def _check_resumed_copies(out: Path, reference_images: int) -> None:
    """A resumed conversion keeps the lossless-copy count it started with (a conversion
    from before the copies existed: 0), so no shard lacks the copies of its samples."""
    path = out / PROGRESS
    if not path.exists():
        return
    records = _progress_records(path, repair=False)
    if not records:  # only a cut-off header: the conversion starts over
        return
    started = records[0].get("reference_images", 0)
    if started != reference_images:
        raise FileExistsError(
            f"{out} holds a conversion started with --reference-images {started} (this run "
            f"{reference_images}); nothing was written. Resume with --reference-images "
            f"{started}, or convert into a new folder."
        )


def _progress_records(path: Path, repair: bool = True) -> list[dict]:
    """Records of ``progress.jsonl``; a last line cut off by an interruption is left out
    and, with ``repair``, removed from the file (its shard is simply written again)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            if i < len(lines) - 1:
                raise ValueError(
                    f"{path} is corrupt at line {i + 1}; move the output folder aside and "
                    "convert into a new one"
                ) from None
            if repair:
                path.write_text("".join(ln + "\n" for ln in lines[:-1]))
    return records


def _append_line(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


# (shard bytes, error, lossless PNG bytes of the same pixels or None)
Result = tuple[bytes | None, str | None, bytes | None]


def _encode(task: tuple[Path, int, str, int, bool]) -> Result:
    """The shard encoding of one file and, when asked, a PNG of its preprocessed pixels
    (for a source JPEG stored byte for byte: its decoded pixels, which the shard holds)."""
    path, size, fmt, quality, lossless = task
    data, error = preprocess_file(path, size, fmt, quality)
    png = preprocess_file(path, size, "png")[0] if lossless and data is not None else None
    return data, error, png


def _first_readable(results: Iterator[Result], tasks: list[tuple], src: Path) -> Iterator[Result]:
    """``results`` unchanged, once one of them is an encoded image; ``ValueError`` (with
    nothing written yet) when every file of ``src`` fails."""
    pulled = []
    for result in results:
        pulled.append(result)
        if result[0] is not None:
            return itertools.chain(pulled, results)
    first = f" (first: {tasks[0][0]}: {pulled[0][1]})" if pulled else ""
    raise ValueError(
        f"none of the {len(pulled)} images in {src} could be read{first}; nothing was "
        "written. Check that SRC holds valid image files, or point it at the right folder."
    )


def write_shard(
    out: Path,
    options: Options,
    index: int,
    samples: list[tuple[int, Item]],
    results: Iterator[Result],
) -> dict:
    """Write one shard atomically (tmp + rename), and the lossless copies of its first
    samples before it (so a shard on record has all of its copies); return its progress
    record."""
    final = out / shard_name(options, index)
    tmp = final.with_name(final.name + ".tmp")
    counts: Counter[int] = Counter()
    bad = []
    lossless = 0
    with tmp.open("wb") as f:
        # An integer mtime keeps tar headers at 512 bytes; webdataset's default float
        # mtime adds a 1 kB PAX header to every member (+20% size for 128px JPEGs).
        writer = wds.TarWriter(f, mtime=int(time.time()))
        for position, item in samples:
            data, error, png = next(results)
            if data is None:
                bad.append({"key": item.key, "error": error})
                continue
            if png is not None:
                _write_atomic(out / LOSSLESS / str(item.label) / f"{position:09d}.png", png)
                lossless += 1
            writer.write(
                {
                    "__key__": f"{position:09d}",
                    options.fmt: data,
                    "cls": str(item.label).encode(),
                    "src": item.key.encode(),
                }
            )
            counts[item.label] += 1
        writer.close()
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(final)
    return {
        "shard": index,
        "name": final.name,
        "num_samples": sum(counts.values()),
        "class_counts": {str(k): v for k, v in sorted(counts.items())},
        "bad": bad,
        "lossless": lossless,
    }


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _index(
    source: Source, options: Options, fp: str, records: list[dict], reference_images: int
) -> dict:
    total: Counter[int] = Counter()
    for rec in records:
        total.update({int(k): v for k, v in rec["class_counts"].items()})
    n = len(records)
    lossless = sum(rec.get("lossless", 0) for rec in records)
    extra = {}
    if lossless:
        extra["lossless_reference"] = {
            "dir": LOSSLESS,
            "count": lossless,
            "format": "png",
            "layout": "<label>/<9-digit sample key>.png",
            "selection": f"the first {reference_images} samples of the shuffled order",
            "shard_size": options.shard_size,  # key // shard_size: the shard it is in
        }
    return {
        "version": 1,
        "fingerprint": fp,
        "layout": source.layout,
        "image_size": options.size,
        "image_format": options.fmt,
        "quality": options.quality if options.fmt == "jpg" else None,
        "seed": options.seed,
        "num_classes": len(source.classes),
        "classes": source.classes,
        "num_samples": sum(total.values()),
        "class_counts": [total[i] for i in range(len(source.classes))],
        "pattern": f"{options.prefix}-{{{0:06d}..{n - 1:06d}}}.tar",
        "shards": [{k: rec[k] for k in ("name", "num_samples", "class_counts")} for rec in records],
        "num_bad": sum(len(rec["bad"]) for rec in records),
        "bad": [b for rec in records for b in rec["bad"]],
        **extra,
    }


def write_shards(
    src: str | Path,
    out: str | Path,
    options: Options | None = None,
    *,
    ground_truth: str | Path | None = None,
    classes: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
    reference_images: int = 50_000,
) -> dict:
    """Convert ``src`` into shards in ``out`` (resuming if possible); return the index.

    ``reference_images``: how many of the first samples (in the shuffled order) also get
    a lossless PNG copy under ``out/lossless`` for FID reference statistics (0: none).
    """
    options = options or Options()
    if reference_images < 0:
        raise ValueError(f"reference_images must be 0 or more, got {reference_images}")
    if options.fmt == "png":
        reference_images = 0  # the shards themselves are lossless
    if options.fmt not in FORMATS:
        raise ValueError(f"unknown image format {options.fmt!r}; use one of {FORMATS}")
    if options.size < 1 or options.shard_size < 1 or not 1 <= options.quality <= 100:
        raise ValueError("size and shard size must be >= 1 and quality within 1..100")
    if not options.prefix or "/" in options.prefix or options.prefix.startswith("."):
        raise ValueError(f"shard prefix {options.prefix!r} must be a plain file name start")
    src, out = Path(src).resolve(), Path(out).resolve()
    if out == src or out.is_relative_to(src):
        raise ValueError(f"output folder {out} lies inside the source {src}; put it elsewhere")
    source = discover(src, ground_truth, classes)
    fp = fingerprint(source, options)
    done = _read_progress(out, fp, repair=False)  # refuses a folder that is not ours
    _check_resumed_copies(out, reference_images)
    plan = plan_shards(source.items, options.shard_size, options.seed)
    todo = [i for i in range(len(plan)) if i not in done]
    opts = (options.size, options.fmt, options.quality)
    tasks = [(item.path, *opts, pos < reference_images) for i in todo for pos, item in plan[i]]
    pool = multiprocessing.Pool(workers) if workers > 1 and tasks else None
    try:
        results = pool.imap(_encode, tasks, chunksize=8) if pool else map(_encode, tasks)
        if tasks and not any(rec["num_samples"] for rec in done.values()):
            results = _first_readable(results, tasks, src)
        with _sole_conversion(out):
            # Read again, repaired: the first read was before the lock (so that a refused
            # folder gets nothing written, not even the lock).
            done |= _read_progress(out, fp)
            if not (out / PROGRESS).exists():
                header = {"fingerprint": fp, "options": asdict(options)}
                _append_line(out / PROGRESS, {**header, "reference_images": reference_images})
            for stale in out.glob(f"{options.prefix}-*.tar.tmp"):
                stale.unlink()  # our own half-written shard from an interrupted run
            for stale in out.glob(f"{LOSSLESS}/*/*.png.tmp"):
                stale.unlink()
            with Progress(disable=not progress) as bar:
                job = bar.add_task(f"writing {len(todo)} of {len(plan)} shards", total=len(tasks))
                for i in todo:
                    record = write_shard(out, options, i, plan[i], results)
                    _append_line(out / PROGRESS, record)
                    done[i] = record
                    bar.advance(job, len(plan[i]))
            records = [done[i] for i in range(len(plan))]
            index = _index(source, options, fp, records, reference_images)
            _write_atomic(out / INDEX, json.dumps(index, indent=1).encode())
    finally:
        if pool is not None:
            pool.terminate()
    return index


@contextmanager
def _sole_conversion(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the block; ``FileExistsError`` if another conversion does
    (two would delete each other's half-written shards and double the progress file)."""
    with ExitStack() as held:
        try:
            held.enter_context(exclusive(out / LOCK, wait=False))
        except Busy as err:
            raise FileExistsError(
                f"another conversion is writing into {out} ({err}); nothing was written. "
                "Wait for it to finish (rerun then to resume), or convert into another folder."
            ) from None
        yield


if __name__ == "__main__":  # the command line lives with the other commands
    from an_lightning.cli.write_shards import main

    sys.exit(main())
