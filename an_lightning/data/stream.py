"""The webdataset pipeline: shards -> (uint8 images (B, 3, H, W), int64 labels) batches.

Splitting is explicit: shards (or, when ``resampled``, the draws of one shared random shard
sequence) are dealt out by ``islice`` first over ranks, then over DataLoader workers, so
nothing depends on ``torch.distributed`` being initialised and tests can simulate ranks.
Batches are formed inside the workers, in reused buffers (``batch_pool``), flipped there
if asked (2.5 us an image) and stay uint8 (the DataModule scales them on the
device, see ``an_lightning.data.base``).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from itertools import islice

import cv2
import kornia_rs
import numpy as np
import torch
import webdataset as wds
from PIL import Image

from an_lightning.data.batch_pool import SLOTS, BufferPool, PooledBatch, Receiver, shared_bytes
from an_lightning.data.failures import BadDataError, FailureStats, LabelRangeError, check_label
from an_lightning.data.tario import tar_samples

Sample = tuple[np.ndarray, int]  # (H, W, 3) uint8 image, label
Batch = tuple[torch.Tensor, torch.Tensor]


def split_by_rank(src: Iterable, rank: int = 0, world_size: int = 1) -> Iterator:
    """Node splitter for an explicit ``rank`` of ``world_size`` (every world_size-th item)."""
    return islice(src, rank, None, world_size)


def _same_seed() -> int:
    # All ranks and workers draw the *same* resampled shard sequence and then take
    # disjoint slices of it, instead of webdataset's default per-worker seeds.
    return 0


def decode_image(data: bytes, jpeg: kornia_rs.io.ImageDecoder | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB. JPEGs go through libjpeg-turbo (kornia-rs, ~35% less CPU than
    PIL at 128px, same pixels); PNGs and JPEGs it cannot handle (e.g. CMYK) through PIL."""
    if jpeg is not None and data[:2] == b"\xff\xd8":
        try:
            return jpeg.decode(data)
        except Exception:  # PIL decides whether the file is really broken
            pass
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def decode_sample(
    sample: dict, jpeg: kornia_rs.io.ImageDecoder | None, image_size: int | None
) -> Sample:
    """A ``jpg``/``png`` + ``cls`` sample -> (uint8 HWC array, label); raises if corrupt."""
    data = sample.get("jpg") or sample.get("png")
    if data is None:
        raise ValueError(f"no jpg/png member (members: {sorted(sample)})")
    array = decode_image(data, jpeg)
    if image_size is not None and array.shape[:2] != (image_size, image_size):
        raise ValueError(f"image is {array.shape[:2]}, expected {image_size}")
    return array, int(sample["cls"])


def _batch_buffer(shape: tuple[int, ...]) -> torch.Tensor:
    """uint8 tensor for a batch; in a DataLoader worker, allocated in shared memory.

    The worker would otherwise copy each batch into shared memory when queueing it
    (``share_memory_``, 28 us/image at 128px); allocating it there directly is what
    torch's ``default_collate`` does too (same private storage call).
    """
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    return shared_bytes(math.prod(shape)).view(shape)


def _batch_shape(samples: list[Sample]) -> tuple[int, int, int, int]:
    shapes = {s[0].shape for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"a batch mixes image shapes {sorted(shapes)}: set image_size")
    h, w, c = shapes.pop()
    return len(samples), c, h, w


def _put(out: np.ndarray, i: int, array: np.ndarray, flip: bool = False) -> None:
    """HWC ``array`` -> slot ``i`` of the NCHW batch ``out``, mirrored left-right if ``flip``.

    OpenCV's ``split`` deinterleaves the channels straight into the slot's three planes
    with SIMD shuffles (4 us/image at 128px; numpy's strided transpose took 14, torch's
    17); ``flip`` mirrors first (2.5 us). Contiguous NCHW here, in the worker, because
    converting a channels-last batch to float in the main process costs twice as much
    (52 vs 26 us/image).
    """
    if flip:
        array = cv2.flip(array, 1)
    slot = out[i]
    # split fills the given planes in place since their shape and type match (the pixel
    # tests in tests/test_data_shard_data.py fail if it ever allocates new ones instead)
    cv2.split(np.ascontiguousarray(array), [slot[0], slot[1], slot[2]])


def collate(samples: list[Sample]) -> Batch:
    """HWC arrays -> one contiguous NCHW uint8 batch (for map-style DataLoaders)."""
    images = _batch_buffer(_batch_shape(samples))
    out = images.numpy()
    for i, (array, _) in enumerate(samples):
        _put(out, i, array)
    return images, torch.tensor([s[1] for s in samples], dtype=torch.int64)


class BatchDecoder:
    """Pipeline stage: samples -> ``PooledBatch`` es of ``batch_size`` decoded images.

    Each image is decoded and at once transposed (mirrored left-right with probability
    1/2 if ``hflip``) into its slot of a pooled batch buffer (``batch_pool``), while it is
    still in the CPU cache: one stage instead of decode -> batch -> collate, which
    touched every image three times. A corrupt sample is counted in ``stats`` and
    skipped; its slot goes to the next good one, so batches stay full. A label outside
    ``num_classes`` stops the stream (``LabelRangeError``): here, on the CPU, rather than
    as an index error in the model's embedding. The flips come from a generator seeded
    by ``(seed, rank, worker, pass)``. ``Receiver`` (in ``make_loader``) turns the batches
    back into ``(images, labels)``, and raises a worker's data error in the main process.
    """

    def __init__(
        self,
        batch_size: int,
        stats: FailureStats,
        image_size: int | None = None,
        partial: bool = True,
        hflip: bool = False,
        seed: int = 0,
        rank: int = 0,
        num_classes: int | None = None,
    ) -> None:
        self.batch_size, self.stats, self.image_size = batch_size, stats, image_size
        self.partial, self.hflip, self.seed, self.rank = partial, hflip, seed, rank
        self.num_classes = num_classes  # None: labels unchecked
        self.pool = BufferPool()
        self._passes = 0  # per process: every epoch (pass over the stream) flips anew

    def _coins(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else -1
        self._passes += 1
        return np.random.default_rng([self.seed, self.rank, worker + 1, self._passes])

    def _decode(self, sample: dict, jpeg, shape: tuple | None) -> Sample:
        array, label = decode_sample(sample, jpeg, self.image_size)
        if shape is not None and array.shape != shape:
            raise ValueError(f"image is {array.shape}, the batch's first {shape}: set image_size")
        return array, label

    def __call__(self, samples: Iterable[dict]) -> Iterator[PooledBatch]:
        try:
            yield from self._batches(samples)
        except (BadDataError, LabelRangeError) as exc:
            if torch.utils.data.get_worker_info() is None:
                raise
            yield PooledBatch(torch.empty(0, dtype=torch.uint8), np.empty(0, np.int64), error=exc)

    def _batches(self, samples: Iterable[dict]) -> Iterator[PooledBatch]:
        jpeg = kornia_rs.io.ImageDecoder()  # made here: it cannot be pickled to workers
        coins = self._coins()
        shape = images = out = release = None
        labels: list[int] = []
        for sample in samples:
            try:
                array, label = self._decode(sample, jpeg, shape)
            except Exception as exc:  # any corrupt member: count and skip
                where = sample.get("__url__", "unknown shard")
                self.stats.record_bad(where, f"{sample.get('__key__')}: {exc}")
                continue
            if self.num_classes is not None:
                check_label(label, self.num_classes, sample.get("__url__", "unknown shard"))
            if not labels:  # a new batch
                shape = array.shape
                images, release = self.pool.take((self.batch_size, shape[2], *shape[:2]))
                out = images.numpy()
                flips = coins.random(self.batch_size) < 0.5 if self.hflip else None
            _put(out, len(labels), array, flips is not None and flips[len(labels)])
            labels.append(label)
            if len(labels) == self.batch_size:
                self.stats.record_good(len(labels))
                yield PooledBatch(images, np.array(labels, np.int64), release)
                labels = []
        self.stats.record_good(len(labels))
        if labels and self.partial:
            yield PooledBatch(images[: len(labels)], np.array(labels, np.int64), release)
        self.stats.check(final=True)


def shard_stream(
    urls: list[str],
    *,
    batch_size: int,
    stats: FailureStats,
    image_size: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    resampled: bool = False,
    shuffle_buffer: int = 0,
    seed: int = 0,
    partial_batches: bool = True,
    hflip: bool = False,
    counts: Mapping[str, int] | None = None,
    num_classes: int | None = None,
) -> wds.DataPipeline:
    """Build the pipeline for one rank; workers split it further when iterated.

    ``counts`` (samples per shard URL, from the index) lets a shard that cannot be read
    count as all the samples it holds; ``num_classes`` checks every label against it.
    """
    if resampled:
        source = wds.ResampledShards(urls, seed=seed, worker_seed=_same_seed, deterministic=True)
    else:
        source = wds.SimpleShardList(urls)
    stages = [
        source,
        partial(split_by_rank, rank=rank, world_size=world_size),
        wds.split_by_worker,
        partial(tar_samples, handler=stats.handler, expected=counts),
    ]
    if shuffle_buffer > 1:
        stages.append(wds.shuffle(shuffle_buffer, initial=min(shuffle_buffer, 100)))
    stages.append(
        BatchDecoder(batch_size, stats, image_size, partial_batches, hflip, seed, rank, num_classes)
    )
    return wds.DataPipeline(*stages)


def shuffled_shards(shards: list, seed: int) -> list:
    """A fixed shard order shared by all ranks, so that rank slices stay disjoint."""
    order = list(shards)
    random.Random(seed).shuffle(order)
    return order


def batches_per_rank(
    counts: list[int], world_size: int, num_workers: int, batch_size: int, partial: bool
) -> list[int]:
    """Exact batches each rank yields from shards with ``counts`` samples (listing order)."""
    result = []
    for rank in range(world_size):
        rank_counts = counts[rank::world_size]
        total = 0
        for worker in range(max(1, num_workers)):
            n = sum(rank_counts[worker :: max(1, num_workers)])
            total += -(-n // batch_size) if partial else n // batch_size
        result.append(total)
    return result


def make_loader(
    pipeline: wds.DataPipeline, num_workers: int, batches_per_epoch: int | None = None
) -> wds.WebLoader:
    """DataLoader over ready-made batches, optionally with a fixed epoch length in batches.

    With ``batches_per_epoch`` the loader restarts its (finite) stream or cuts its
    (resampled) stream so every rank yields exactly that many batches: DDP ranks stay in step.
    Workers persist so a resampled stream continues with a new epoch seed each epoch.
    """
    loader = wds.WebLoader(
        pipeline,
        batch_size=None,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
    loader = loader.map(Receiver(keep=SLOTS * max(1, num_workers)))
    if batches_per_epoch is not None:
        loader = loader.with_epoch(batches_per_epoch).with_length(batches_per_epoch, silent=True)
    return loader


def shutdown_workers(loader: wds.WebLoader) -> None:
    """Stop the persistent workers now. Lightning does this for the DataLoaders it sees,
    not for one wrapped in a WebLoader; left to garbage collection, each worker took 5 s
    (the DataLoader's join timeout) to go away after a ``Trainer.fit`` here."""
    dataloader = loader.pipeline[0]
    iterator = getattr(dataloader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    dataloader._iterator = None
