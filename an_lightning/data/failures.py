"""Counting bad samples while streaming, and stopping when there are too many.

A few corrupt JPEGs in a million-image dataset should cost a warning, not a crashed run;
a broken copy of the dataset should stop training with the name of the shard instead of
silently training on a fraction of the data. The counters live in shared memory so that
DataLoader worker processes add to the same numbers the main process (and tests) read.
"""

from __future__ import annotations

import multiprocessing
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator


class BadDataError(RuntimeError):
    """More samples failed than ``max_bad_fraction`` allows."""


class BadDataWarning(UserWarning):
    """A sample or shard was skipped."""


class LabelRangeError(ValueError):
    """A shard holds a label outside the class range of its index: the shards and the
    index (or the model's class count) belong to different datasets."""


def check_label(label: int, num_classes: int, shard: str) -> None:
    """``LabelRangeError`` unless ``label`` is a class id of ``num_classes`` (-1, i.e.
    unlabelled, when there are none)."""
    if (0 <= label < num_classes) if num_classes else label == -1:
        return
    allowed = f"0..{num_classes - 1}" if num_classes else "-1 (unlabelled)"
    raise LabelRangeError(
        f"{shard} holds label {label}, but the data has {num_classes} classes (labels "
        f"{allowed}); point index= at these shards' own index.json, or rewrite them with "
        "the right class list (python -m an_lightning.data.shards --classes)"
    )


class FailureStats:
    """Shared good/bad sample counters with a threshold check.

    Create it in the process that builds the DataLoader: worker processes inherit it.
    The check only fires after ``min_samples`` samples (or at the end of a finite stream)
    so that one bad sample among the first few does not look like a 100% failure rate.
    """

    def __init__(self, max_bad_fraction: float = 0.01, min_samples: int = 200) -> None:
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be within [0, 1], got {max_bad_fraction}")
        self.max_bad_fraction = max_bad_fraction
        self.min_samples = min_samples
        self._good = multiprocessing.Value("q", 0)
        self._bad = multiprocessing.Value("q", 0)
        self.by_source: Counter[str] = Counter()  # per process: which shards/files failed
        self.last_error = ""

    @property
    def good(self) -> int:
        return self._good.value

    @property
    def bad(self) -> int:
        return self._bad.value

    def record_good(self, n: int = 1) -> None:
        with self._good.get_lock():
            self._good.value += n

    def record_bad(self, source: str, error: str, n: int = 1) -> None:
        """Count ``n`` lost samples (a whole unreadable shard loses all it holds)."""
        with self._bad.get_lock():
            self._bad.value += n
            bad = self._bad.value
        self.by_source[source] += n
        self.last_error = f"{source}: {error}"
        what = f"{n} samples" if n > 1 else "a sample"
        warnings.warn(
            f"skipped {what} ({bad} bad so far) in {source}: {error}", BadDataWarning, stacklevel=2
        )
        self.check()

    def handler(self, exc: Exception) -> bool:
        """webdataset exception handler: count the failure, then keep streaming.

        A shard that breaks off counts the samples it did not deliver (``ShardTally`` sets
        ``exc.samples_lost`` from the index), so a shard that cannot be read at all weighs
        what it holds, not one sample. A wrong label is no data damage: it is raised.
        """
        if isinstance(exc, LabelRangeError):
            raise exc
        lost = max(1, int(getattr(exc, "samples_lost", 1)))
        cause = exc.__cause__ or exc  # webdataset's DecodingError carries url and key only
        where = f"{exc.key}: " if getattr(exc, "key", None) else ""
        reason = f"{where}{type(cause).__name__}: {cause.args[0] if cause.args else ''}"
        self.record_bad(_shard_of(exc), reason, lost)
        return True

    def check(self, final: bool = False) -> None:
        """Raise ``BadDataError`` naming the failing shards when too many samples failed."""
        good, bad = self.good, self.bad
        seen = good + bad
        if seen == 0 or (seen < self.min_samples and not final):
            return
        if bad > self.max_bad_fraction * seen:
            worst = ", ".join(f"{s} ({n})" for s, n in self.by_source.most_common(5))
            raise BadDataError(
                f"{bad} of {seen} samples failed ({bad / seen:.1%} > max_bad_fraction="
                f"{self.max_bad_fraction:.1%}); failures in: {worst}. Last error: "
                f"{self.last_error}. Check or rewrite those shards (python -m "
                "an_lightning.data.shards), or raise max_bad_fraction if this is expected."
            )


class ShardTally:
    """Counts the samples each shard delivers, so one that breaks off (truncated, corrupt,
    unreadable) costs what the index says it held beyond them.

    ``count`` is the pipeline stage right after webdataset's tar reader; ``handler`` is
    that reader's exception handler. A shard's tally restarts once it delivered all its
    samples, so a shard drawn twice in a row (resampling) is counted per draw.
    """

    def __init__(self, stats: FailureStats, expected: dict[str, int]) -> None:
        self.stats, self.expected = stats, expected
        self.delivered: Counter[str] = Counter()

    def count(self, samples: Iterable[dict]) -> Iterator[dict]:
        for sample in samples:
            url = sample.get("__url__", "")
            self.delivered[url] += 1
            if self.delivered[url] >= self.expected.get(url, 1 << 62):
                del self.delivered[url]
            yield sample

    def handler(self, exc: Exception) -> bool:
        url = _shard_of(exc)
        exc.samples_lost = max(1, self.expected.get(url, 0) - self.delivered.pop(url, 0))
        return self.stats.handler(exc)


def worker_message(err: BaseException) -> str:
    """The message an error had where it was raised: a DataLoader re-raises a worker's
    exception with the worker's traceback as its message; the last line is the original."""
    text = str(err).strip()
    if "Original Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    prefix = f"{type(err).__name__}: "
    return last.split(prefix, 1)[1] if prefix in last else last


def _shard_of(exc: Exception) -> str:
    """The shard of a failure: webdataset's DecodingError has ``url``, its tar reader
    appends the URL to ``exc.args``; else look for one in the message."""
    if isinstance(getattr(exc, "url", None), str):
        return exc.url
    for arg in reversed(exc.args):
        if isinstance(arg, str) and re.search(r"\.tar(\.gz)?$", arg):
            return arg
    match = re.search(r"\S+\.tar\b", str(exc.args[0]) if exc.args else "")
    return match.group(0) if match else "unknown shard"
