"""One rank's shard stream for one epoch, as a list of webdataset stages.

    shards -> this rank's -> this worker's -> tar samples -> tally -> shuffle (per pass)
        -> flip coins -> skip what a resumed epoch trained on -> decode
        -> (image, label, flip, url) -> CHW uint8, flipped, label checked -> quota -> batches

Every random draw comes from a generator seeded by (seed, epoch, rank, worker role), so
the samples and their flips are a function of those alone. The stages are built inside
each DataLoader worker (``EpochStream.__iter__``), where its role is known; nothing
depends on ``torch.distributed`` being initialised, so tests can simulate ranks.

Resuming an epoch after ``start`` batches: the DataLoader hands batch ``i`` to worker
``i % W`` (in-order round robin), so a fresh loader's worker ``w`` plays the role of the
interrupted loader's worker ``(start + w) % W``, which had delivered ``(start + w) // W``
batches. It skips their samples (read, shuffled and given their coins, never decoded)
and delivers the rest of its quota, ``ceil((length - role) / W)`` batches an epoch.
docs/data.md has the whole story, including where the order cannot be kept.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import count, islice

import kornia_rs
import numpy as np
import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import IterableDataset, default_collate, get_worker_info

from an_lightning.data.failures import FailureStats, ShardTally, check_label

IMAGE_KEYS = "jpg;jpeg;png"


def every(src: Iterable, start: int, step: int) -> Iterator:
    """Items ``start``, ``start + step``, ...: a split by rank or by worker role."""
    return islice(src, start, None, step)


def skip(src: Iterable, n: int) -> Iterator:
    """Drop the first ``n`` items (the samples a resumed epoch already trained on)."""
    return islice(src, n, None)


def take(src: Iterable, n: int | None) -> Iterator:
    """At most ``n`` items (``None``: all): a worker's share of the epoch, in samples, so
    that none is decoded beyond it (``wds.batched`` reads one ahead)."""
    return islice(src, n)


def rng(*key: object) -> random.Random:
    """A generator for one purpose, seeded by a string: stable across processes and
    Python runs (string seeds do not depend on hash randomisation)."""
    return random.Random(":".join(map(str, key)))


def image_decoder(image_size: int | None, fast: bool = True) -> Callable:
    """webdataset decode handler: ``jpg``/``jpeg``/``png`` bytes -> HWC uint8 RGB array.

    ``fast``: JPEGs through libjpeg-turbo (kornia-rs), which benchmarks/data_speed.py
    measures against PIL; PNGs, and JPEGs it cannot read (e.g. CMYK), through PIL. A
    wrong size raises, so the sample counts as bad instead of breaking the batch.
    """
    jpeg = kornia_rs.io.ImageDecoder() if fast else None

    def decode(key: str, data: bytes) -> np.ndarray | None:
        if key.rsplit(".", 1)[-1].lower() not in ("jpg", "jpeg", "png"):
            return None
        array = None
        if jpeg is not None and data[:2] == b"\xff\xd8":
            with contextlib.suppress(Exception):  # PIL decides if the file is really broken
                array = jpeg.decode(data)
        if array is None:
            with Image.open(io.BytesIO(data)) as image:
                array = np.array(image if image.mode == "RGB" else image.convert("RGB"))
        if image_size is not None and array.shape[:2] != (image_size, image_size):
            raise ValueError(f"image is {array.shape[:2]}, expected {image_size}")
        return array

    return decode


@dataclass(frozen=True)
class Epoch:
    """Where a stream stands: ``epoch`` and the batches of it already trained on."""

    epoch: int = 0
    start: int = 0


@dataclass
class StreamSpec:
    """Everything one rank's stream depends on (besides the epoch).

    Args:
        urls: the shards, in the order the index lists them.
        counts: samples per shard URL (from ``index.json``); a shard that breaks off counts
            what it did not deliver.
        batch_size: samples per batch.
        stats: shared good/bad counters (``FailureStats``).
        rank, world_size: this rank and the number of ranks.
        seed: seed of the shard order, the shuffle buffer and the flips.
        length: batches per epoch of this rank; ``None``: every sample once (finite).
        resampled: draw shards with replacement (else each shard once per epoch).
        shuffle_buffer: samples in each worker's shuffle buffer (0 or 1: no shuffling).
        hflip: flip each image left-right with probability 1/2.
        image_size: expected side; ``None``: unchecked.
        num_classes: labels are checked against it (``None``: unchecked).
        fast_jpeg: decode JPEGs with kornia-rs (libjpeg-turbo) instead of PIL.
    """

    urls: list[str]
    counts: dict[str, int]
    batch_size: int
    stats: FailureStats
    rank: int = 0
    world_size: int = 1
    seed: int = 0
    length: int | None = None
    resampled: bool = False
    shuffle_buffer: int = 0
    hflip: bool = False
    image_size: int | None = None
    num_classes: int | None = None
    fast_jpeg: bool = True
    tally: ShardTally = field(init=False)

    def __post_init__(self) -> None:
        self.tally = ShardTally(self.stats, self.counts)

    def passes(self, epoch: int) -> range | count:
        """Passes over the shards in an epoch: resampled or finite, one; else as many as
        it takes. A fixed-length epoch without resampling reads the shards once, and goes
        on into a second pass only if a worker falls short of its quota, which only
        samples lost to damage make happen: batch counts stay exact, so DDP ranks never
        wait for batches another rank does not have."""
        return range(1) if self.resampled or self.length is None else count()

    def shards(self, epoch: int, n: int) -> IterableDataset:
        """Pass ``n``'s shard sequence, the same on every rank and worker (they split it)."""
        if self.resampled:
            seed = self.seed * 1_000_003 + epoch
            return wds.ResampledShards(
                self.urls, seed=seed, worker_seed=_shared, deterministic=True
            )
        return wds.SimpleShardList(self.urls, seed=f"{self.seed}:{epoch}:{n}")

    def samples(self, epoch: int, role: int, workers: int) -> Iterator[dict]:
        """Worker ``role``'s raw samples, shuffled within each pass (a shuffle buffer that
        read into the next pass would take shards other ranks read in this one)."""
        for n in self.passes(epoch):
            stages = [
                self.shards(epoch, n),
                partial(every, start=self.rank, step=self.world_size),
                partial(every, start=role, step=workers),
                wds.tarfile_to_samples(handler=self.tally.handler),
                self.tally.count,
            ]
            if self.shuffle_buffer > 1:
                mix = rng(self.seed, epoch, self.rank, role, n, "shuffle")
                stages.append(
                    wds.shuffle(self.shuffle_buffer, min(self.shuffle_buffer, 100), rng=mix)
                )
            delivered = 0
            for sample in wds.DataPipeline(*stages):
                delivered += 1
                yield sample
            if not delivered:  # nothing readable at all: another pass would not help
                return

    def stages(self, epoch: int, role: int, workers: int, done: int) -> list:
        """The stages of worker ``role`` of ``workers``, which delivered ``done`` batches."""
        coins, flip = rng(self.seed, epoch, self.rank, role, "flips"), self.hflip
        quota = None
        if self.length is not None:
            quota = max(0, math.ceil((self.length - role) / workers) - done)
        return [
            partial(self.samples, epoch, role, workers),
            wds.map(lambda s: {**s, "__flip__": flip and coins.random() < 0.5}),
            partial(skip, n=done * self.batch_size),
            wds.decode(image_decoder(self.image_size, self.fast_jpeg), handler=self.stats.handler),
            wds.to_tuple(IMAGE_KEYS, "cls", "__flip__", "__url__", handler=self.stats.handler),
            wds.map(self.example),
            partial(take, n=None if quota is None else quota * self.batch_size),
            wds.batched(self.batch_size, collation_fn=default_collate, partial=quota is None),
        ]

    def example(self, sample: tuple) -> tuple[torch.Tensor, int]:
        """(HWC array, label, flip, url) -> (CHW uint8 tensor, label); a label outside the
        class range stops the stream (the shards and the index do not belong together)."""
        array, label, flip, url = sample
        if self.num_classes is not None:
            check_label(int(label), self.num_classes, url)
        image = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
        self.stats.record_good()
        return (image.flip(-1) if flip else image), int(label)


def _shared() -> int:
    # Every rank and worker draws the *same* resampled shard sequence and takes its own
    # slice of it (webdataset's default seeds each worker differently).
    return 0


class EpochStream(IterableDataset):
    """The batches of one rank for one epoch; each worker builds its own stages."""

    def __init__(self, spec: StreamSpec, at: Epoch) -> None:
        self.spec, self.at = spec, at

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        workers, wid = (info.num_workers, info.id) if info is not None else (1, 0)
        role, done = (self.at.start + wid) % workers, (self.at.start + wid) // workers
        yield from wds.DataPipeline(*self.spec.stages(self.at.epoch, role, workers, done))
        if self.spec.length is None:
            self.spec.stats.check(final=True)  # a finite pass: judge the whole of it
