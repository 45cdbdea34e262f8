"""DataModule over webdataset shards written by ``python -m an_lightning.data.shards``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import webdataset as wds

from an_lightning.data.base import Batch, ImageDataModule, check_at_least
from an_lightning.data.catalog import default_index, expand_shards, read_index, shard_counts
from an_lightning.data.failures import BadDataError, FailureStats, LabelRangeError, worker_message
from an_lightning.data.pipeline import Epoch, EpochStream, StreamSpec


class ShardLoader:
    """A fresh ``WebLoader`` per epoch over ``EpochStream``, resuming where a fit stopped.

    Workers are not persistent: each epoch's workers are started with that epoch's
    position, which is all the state the stream has (``pipeline``). ``position`` says where
    a fit stands (epoch, batches trained); without one, epochs simply count up.
    """

    def __init__(
        self,
        spec: StreamSpec,
        num_workers: int,
        position: Callable[[], tuple[int, int] | None] = lambda: None,
    ) -> None:
        self.spec, self.num_workers, self.position = spec, num_workers, position
        self.epoch = 0  # the next epoch, when no fit says otherwise
        self._live: Iterator | None = None

    def __len__(self) -> int:
        if self.spec.length is None:
            raise TypeError("a finite shard pass has no length known in advance")
        return self.spec.length

    def __iter__(self) -> Iterator[Batch]:
        self.close()
        at = self.position()
        at = Epoch(*at) if at is not None else Epoch(self.epoch)
        self.epoch = at.epoch + 1
        loader = wds.WebLoader(
            EpochStream(self.spec, at),
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
        )
        self._live = self._batches(loader)
        return self._live

    @staticmethod
    def _batches(loader: wds.WebLoader) -> Iterator[Batch]:
        try:
            yield from loader
            return
        except (BadDataError, LabelRangeError) as err:  # raised in a worker: its own line
            kind, message = type(err), worker_message(err)
            # Its traceback holds the DataLoader's iterator in a reference cycle (torch
            # re-raises from a frame that keeps the exception), which would keep the
            # workers alive until a garbage collection: dropped, the iterator is freed
            # now, and freeing it shuts the workers down.
            err.__traceback__ = None
        # Raised outside the handler, so it holds no reference to the worker's exception.
        raise kind(message)

    def close(self) -> None:
        """Stop the current epoch's workers now: closing the iterator releases the
        DataLoader's, which shuts its workers down (else they wait for garbage collection)."""
        if self._live is not None:
            self._live.close()
        self._live = None


class ShardDataModule(ImageDataModule):
    """Streams shards in an order fixed by (seed, epoch, rank, worker); resumes exactly.

    Args:
        train_shards: shard pattern, e.g. ``data/train/shard-{000000..001281}.tar`` or a glob.
        val_shards: optional validation shards (read once per validation, no resampling).
        index: the writer's ``index.json``; default: next to the first training shard.
        batch_size: samples per batch (per rank).
        num_workers: DataLoader worker processes per rank.
        resampled: draw shards with replacement and cut epochs at ``batches_per_epoch``;
            else read each shard at most once per epoch, in a new order every epoch.
        batches_per_epoch: epoch length in batches per rank; default: one pass over the
            data (resampled) or what every worker's shards surely fill (not resampled).
        shuffle_buffer: samples in the shuffle buffer of each worker (0: no shuffling).
        hflip: random horizontal flips of training images, made in the workers.
        max_bad_fraction: stop with an error naming the shard above this failure rate (a
            shard that cannot be read counts as the samples its index lists).
        seed: seed of the shard order / resampling, the shuffle buffers and the flips.
        fast_jpeg: decode JPEGs with libjpeg-turbo (kornia-rs) rather than PIL.

    Every label is checked against the index's ``num_classes`` as it is decoded.
    """

    def __init__(
        self,
        train_shards: str,
        val_shards: str | None = None,
        index: str | None = None,
        batch_size: int = 64,
        num_workers: int = 2,
        resampled: bool = True,
        batches_per_epoch: int | None = None,
        shuffle_buffer: int = 1000,
        hflip: bool = True,
        max_bad_fraction: float = 0.01,
        seed: int = 0,
        fast_jpeg: bool = True,
    ) -> None:
        super().__init__()
        self.hflip = hflip
        check_at_least(batch_size=(batch_size, 1), batches_per_epoch=(batches_per_epoch, 1))
        check_at_least(num_workers=(num_workers, 0), shuffle_buffer=(shuffle_buffer, 0))
        if not 0.0 <= max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be within [0, 1], got {max_bad_fraction}")
        self.save_hyperparameters()
        self.train_urls = expand_shards(train_shards)
        self.index_path = Path(index) if index else default_index(self.train_urls)
        self.index = read_index(self.index_path)
        self.train_counts = shard_counts(self.index, self.train_urls, self.index_path)
        self.num_classes = int(self.index["num_classes"])
        self.image_size = int(self.index["image_size"])
        self.val_urls = expand_shards(val_shards) if val_shards else []
        self.val_counts: dict[str, int] = {}
        if self.val_urls:
            self.val_counts = self._check_val_index(default_index(self.val_urls))
        self.train_stats: FailureStats | None = None
        self.val_stats: FailureStats | None = None
        self._loaders: list[ShardLoader] = []

    def teardown(self, stage: str) -> None:
        for loader in self._loaders:
            loader.close()
        self._loaders.clear()

    def _check_val_index(self, path: Path) -> dict[str, int]:
        """Samples per validation shard URL, as far as an index lists them."""
        if not path.exists():
            return {}
        val = self.index if path == self.index_path else read_index(path)
        listed = {s["name"]: int(s["num_samples"]) for s in val["shards"]}
        counts = {u: listed[Path(u).name] for u in self.val_urls if Path(u).name in listed}
        if (val["num_classes"], val["image_size"]) != (self.num_classes, self.image_size):
            raise ValueError(
                f"validation shards ({path}: {val['num_classes']} classes, "
                f"{val['image_size']}px) do not match the training shards ({self.index_path}: "
                f"{self.num_classes} classes, {self.image_size}px); write both with the same "
                "--size and class list (--classes <train>/index.json)."
            )
        return counts

    def _spec(self, urls: list[str], counts: dict[str, int], **kw) -> StreamSpec:
        rank, world = self.rank_and_world()
        hp = self.hparams
        return StreamSpec(
            urls,
            counts,
            hp.batch_size,
            rank=rank,
            world_size=world,
            seed=hp.seed,
            image_size=self.image_size,
            num_classes=self.num_classes,
            fast_jpeg=hp.fast_jpeg,
            **kw,
        )

    def _loader(self, spec: StreamSpec, workers: int, resumable: bool = False) -> ShardLoader:
        def position() -> tuple[int, int] | None:
            return self.fit_position(spec.length)  # None outside a fit: epochs count up

        loader = ShardLoader(spec, workers, position if resumable else lambda: None)
        self._loaders.append(loader)
        return loader

    def epoch_length(self, world: int) -> int:
        """Batches per epoch of every rank (the same on all, so DDP ranks stay in step)."""
        hp = self.hparams
        if hp.resampled:
            return hp.batches_per_epoch or max(1, sum(self.train_counts) // (hp.batch_size * world))
        workers = max(1, hp.num_workers)
        per_worker = len(self.train_urls) // (world * workers)
        if per_worker < 1:
            raise ValueError(
                f"{len(self.train_urls)} training shards cannot feed {world} ranks x "
                f"{hp.num_workers} workers without resampling; set resampled: true, "
                "use fewer workers, or write smaller shards (--shard-size)."
            )
        # Every epoch deals the shards out anew: count on the smallest ones only.
        surely = sum(sorted(self.train_counts)[:per_worker]) // hp.batch_size
        if surely < 1:
            raise ValueError(
                f"some worker gets no full batch of {hp.batch_size} from its shards; lower "
                "batch_size or num_workers, or set resampled: true."
            )
        if hp.batches_per_epoch is not None and hp.batches_per_epoch > surely * workers:
            raise ValueError(
                f"batches_per_epoch={hp.batches_per_epoch} is more than the "
                f"{surely * workers} batches these shards surely fill per rank and epoch "
                "without resampling; lower it or set resampled: true."
            )
        return hp.batches_per_epoch or surely * workers

    def train_dataloader(self) -> ShardLoader:
        hp = self.hparams
        self.train_stats = FailureStats(hp.max_bad_fraction)
        spec = self._spec(
            self.train_urls,
            dict(zip(self.train_urls, self.train_counts, strict=True)),
            stats=self.train_stats,
            length=self.epoch_length(self.rank_and_world()[1]),
            resampled=hp.resampled,
            shuffle_buffer=hp.shuffle_buffer,
            hflip=hp.hflip,
        )
        return self._loader(spec, hp.num_workers, resumable=True)

    def reference_loader(self) -> ShardLoader:
        """Every training sample once (no resampling), split over ranks by shard."""
        rank, world = self.rank_and_world()
        if len(self.train_urls) < world:
            raise ValueError(
                f"{len(self.train_urls)} training shards for {world} ranks: reference "
                "statistics need one shard per rank at least; compute them with fewer processes."
            )
        counts = dict(zip(self.train_urls, self.train_counts, strict=True))
        spec = self._spec(
            self.train_urls, counts, stats=FailureStats(self.hparams.max_bad_fraction)
        )
        return self._loader(spec, self._finite_workers(self.train_urls, rank, world))

    def val_dataloader(self) -> ShardLoader | list:
        if not self.val_urls:
            return []
        rank, world = self.rank_and_world()
        if len(self.val_urls) < world:
            raise ValueError(
                f"{len(self.val_urls)} validation shards for {world} ranks: every rank needs "
                "one; write the validation set with a smaller --shard-size."
            )
        # Finite and split by rank, so validation_step runs and sees each sample once.
        self.val_stats = FailureStats(self.hparams.max_bad_fraction)
        spec = self._spec(self.val_urls, self.val_counts, stats=self.val_stats)
        return self._loader(spec, self._finite_workers(self.val_urls, rank, world))

    def _finite_workers(self, urls: list[str], rank: int, world: int) -> int:
        """Workers for a single pass: no more than this rank has shards."""
        return min(self.hparams.num_workers, math.ceil((len(urls) - rank) / world))
