"""DataModule over webdataset shards written by ``python -m an_lightning.data.shards``."""

from __future__ import annotations

from pathlib import Path

import webdataset as wds

from an_lightning.data.base import ImageDataModule
from an_lightning.data.catalog import default_index, expand_shards, read_index, shard_counts
from an_lightning.data.failures import FailureStats
from an_lightning.data.stream import (
    batches_per_rank,
    make_loader,
    shard_stream,
    shuffled_shards,
    shutdown_workers,
)


class ShardDataModule(ImageDataModule):
    """Streams shards; every DDP rank gets the same number of batches per epoch.

    Args:
        train_shards: shard pattern, e.g. ``data/train/shard-{000000..001281}.tar`` or a glob.
        val_shards: optional validation shards (read once per validation, no resampling).
        index: the writer's ``index.json``; default: next to the first training shard.
        batch_size: samples per batch (per rank).
        num_workers: DataLoader worker processes per rank.
        resampled: draw shards with replacement forever and cut epochs at
            ``batches_per_epoch``; else read each shard once per epoch.
        batches_per_epoch: epoch length in batches per rank; default: one pass over the
            data (resampled) or the smallest exact per-rank count (not resampled; a larger
            value makes ranks restart their shards, i.e. repeat samples in an epoch).
        shuffle_buffer: samples in the shuffle buffer of each worker (0: no shuffling).
        hflip: random horizontal flips of training images, made while the loader copies
            them into the batch (free there; ``flips_in_loader``), not on the device.
        max_bad_fraction: stop with an error naming the shard above this failure rate (a
            shard that cannot be read counts as the samples its index lists).
        seed: seed of the shard order / resampling and of the flips.

    Every label is checked against the index's ``num_classes`` as it is decoded.
    """

    flips_in_loader = True

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
    ) -> None:
        super().__init__()
        self.hflip = hflip
        if batch_size < 1 or num_workers < 0 or (batches_per_epoch or 1) < 1:
            raise ValueError("batch_size and batches_per_epoch must be >= 1, num_workers >= 0")
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
        self._loaders: list[wds.WebLoader] = []

    def teardown(self, stage: str) -> None:
        for loader in self._loaders:
            shutdown_workers(loader)
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

    def _stream(self, urls: list[str], counts: dict[str, int], **kw) -> wds.DataPipeline:
        """``shard_stream`` with this data's image size, class count and shard sizes."""
        hp = self.hparams
        return shard_stream(
            urls,
            batch_size=hp.batch_size,
            image_size=self.image_size,
            counts=counts,
            num_classes=self.num_classes,
            **kw,
        )

    def train_dataloader(self) -> wds.WebLoader:
        hp = self.hparams
        rank, world = self.rank_and_world()
        urls, counts = self.train_urls, self.train_counts
        if hp.resampled:
            default = max(1, sum(counts) // (hp.batch_size * world))
        else:
            order = shuffled_shards(list(range(len(urls))), hp.seed)
            urls, counts = [urls[i] for i in order], [counts[i] for i in order]
            if len(urls) < world * max(1, hp.num_workers):
                raise ValueError(
                    f"{len(urls)} training shards cannot feed {world} ranks x "
                    f"{hp.num_workers} workers without resampling; set resampled: true, "
                    "use fewer workers, or write smaller shards (--shard-size)."
                )
            per_rank = batches_per_rank(counts, world, hp.num_workers, hp.batch_size, False)
            default = min(per_rank)
            if default < 1:
                raise ValueError(
                    f"some rank gets no full batch of {hp.batch_size} from its workers' shards; "
                    "lower batch_size or num_workers, or set resampled: true."
                )
        self.train_stats = FailureStats(hp.max_bad_fraction)
        pipeline = self._stream(
            urls,
            dict(zip(urls, counts, strict=True)),
            stats=self.train_stats,
            rank=rank,
            world_size=world,
            resampled=hp.resampled,
            shuffle_buffer=hp.shuffle_buffer,
            seed=hp.seed,
            partial_batches=False,
            hflip=hp.hflip,
        )
        loader = make_loader(pipeline, hp.num_workers, hp.batches_per_epoch or default)
        self._loaders.append(loader)
        return loader

    def reference_loader(self) -> wds.WebLoader:
        """Every training sample once (no resampling), split over ranks by shard."""
        rank, world = self.rank_and_world()
        urls = shuffled_shards(self.train_urls, self.hparams.seed)
        if len(urls) < world:
            raise ValueError(
                f"{len(urls)} training shards for {world} ranks: reference statistics need one "
                "shard per rank at least; compute them with fewer processes."
            )
        pipeline = self._stream(
            urls,
            dict(zip(self.train_urls, self.train_counts, strict=True)),
            stats=FailureStats(self.hparams.max_bad_fraction),
            rank=rank,
            world_size=world,
        )
        workers = min(self.hparams.num_workers, len(urls[rank::world]))
        self._loaders.append(loader := make_loader(pipeline, workers))
        return loader

    def val_dataloader(self) -> wds.WebLoader | list:
        if not self.val_urls:
            return []
        rank, world = self.rank_and_world()
        if len(self.val_urls) < world:
            raise ValueError(
                f"{len(self.val_urls)} validation shards for {world} ranks: every rank needs "
                "one; write the validation set with a smaller --shard-size."
            )
        # Finite and split by rank, so validation_step runs and sees each sample once.
        workers = min(self.hparams.num_workers, len(self.val_urls[rank::world]))
        self.val_stats = FailureStats(self.hparams.max_bad_fraction)
        pipeline = self._stream(
            self.val_urls,
            self.val_counts,
            stats=self.val_stats,
            rank=rank,
            world_size=world,
        )
        self._loaders.append(loader := make_loader(pipeline, workers))
        return loader
