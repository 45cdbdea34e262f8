"""Resolve shard patterns and read the shard writer's ``index.json``, failing early.

Everything here runs when a DataModule is constructed, so a typo in a path, an empty
pattern or a broken index stops the run before any model or worker is created.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import webdataset as wds

REQUIRED_KEYS = ("num_classes", "classes", "image_size", "num_samples", "shards")


def _is_local(url: str) -> bool:
    return "://" not in url and not url.startswith("pipe:")


def expand_shards(pattern: str) -> list[str]:
    """Brace (``shard-{000000..000099}.tar``), glob (``shard-*.tar``) or ``::``-joined lists.

    Local files must all exist; remote URLs are passed through unchecked.
    """
    if not pattern or not pattern.strip():
        raise ValueError(
            "the shard pattern is empty; set it to e.g. data/shard-{000000..000099}.tar"
        )
    if any(c in pattern for c in "*?[") and _is_local(pattern):
        urls = sorted(glob.glob(pattern))
    else:
        urls = list(wds.shardlists.expand_urls(pattern))
    if not urls:
        raise FileNotFoundError(
            f"shard pattern {pattern!r} matches no files; check the path, or write shards "
            "with: python -m an_lightning.data.shards SRC OUT"
        )
    missing = [u for u in urls if _is_local(u) and not Path(u).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(urls)} shards of {pattern!r} do not exist (first: "
            f"{missing[0]}); fix the pattern (the writer prints it, and index.json has "
            "'pattern') or finish the conversion by rerunning the writer on the same folder."
        )
    return urls


def default_index(urls: list[str]) -> Path:
    """``index.json`` next to the first shard, where the writer puts it."""
    return Path(urls[0]).parent / "index.json"


def read_index(path: str | Path) -> dict:
    """Load and sanity-check an index written by ``an_lightning.data.shards``."""
    path = Path(path)
    fix = (
        "Pass the index= of these shards, or rerun python -m an_lightning.data.shards on "
        "the same SRC/OUT to (re)write it (the run resumes; no shard is rewritten)."
    )
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"shard index {path} does not exist. {fix}") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"shard index {path} is unreadable ({exc}). {fix}") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(index, dict) or k not in index]
    if missing:
        raise ValueError(
            f"shard index {path} lacks {missing}; it was not written by this tool. {fix}"
        )
    return index


def shard_counts(index: dict, urls: list[str], index_path: str | Path) -> list[int]:
    """Samples per shard in ``urls`` order; every shard must be listed in the index."""
    counts = {s["name"]: int(s["num_samples"]) for s in index["shards"]}
    unknown = [u for u in urls if Path(u).name not in counts]
    if unknown:
        raise ValueError(
            f"{len(unknown)} shards (first: {unknown[0]}) are not listed in {index_path}: "
            "the index belongs to other shards. Point index= at the index.json written "
            "together with these shards."
        )
    return [counts[Path(u).name] for u in urls]
