"""The shard pipeline: every sample once, disjoint splits, an order fixed by (seed,
epoch, rank, worker), exact resume from any batch, and damage counted per shard."""

import io
import tarfile
import warnings
from pathlib import Path

import pytest
import torch
from data_fixtures import class_folders, decoded_hashes, tensor_hashes

from an_lightning.data.failures import (
    BadDataError,
    BadDataWarning,
    FailureStats,
    LabelRangeError,
)
from an_lightning.data.pipeline import StreamSpec
from an_lightning.data.shard_data import ShardLoader
from an_lightning.data.shards import Options, write_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("stream")
    class_folders(root / "src", ["a", "b", "c"], 8)
    write_shards(root / "src", root / "out", Options(size=16, shard_size=4), progress=False)
    return sorted((root / "out").glob("*.tar"))


def _read(loader) -> tuple[list[str], list[int], list[int]]:
    hashes, labels, sizes = [], [], []
    for images, y in loader:
        assert images.dtype == torch.uint8 and y.dtype == torch.int64
        assert images.shape[1:] == (3, 16, 16) and images.is_contiguous()
        hashes += tensor_hashes(images)
        labels += y.tolist()
        sizes.append(len(y))
    return hashes, labels, sizes


def _loader(urls, workers=0, at=None, **kw) -> ShardLoader:
    """A loader over ``urls``; ``at`` = (epoch, batches done) to resume from."""
    urls = [str(u) for u in urls]
    stats = FailureStats(kw.pop("max_bad_fraction", 0.0))
    counts = {u: 4 for u in urls}  # what the writer's index says of these shards
    spec = StreamSpec(urls, counts, kw.pop("batch_size"), stats, image_size=16, **kw)
    return ShardLoader(spec, workers, (lambda: at) if at is not None else (lambda: None))


@pytest.mark.parametrize("workers", [0, 2])
def test_every_sample_exactly_once(shards, workers):
    reference = decoded_hashes(shards)
    loader = _loader(shards, workers, batch_size=5, shuffle_buffer=10)
    hashes, labels, sizes = _read(loader)
    assert sorted(hashes) == sorted(reference)  # all 24, none twice
    assert [reference[h] for h in hashes] == labels
    stats = loader.spec.stats
    assert (stats.good, stats.bad) == (24, 0)  # counted in the workers, read here
    assert sum(sizes) == 24


def test_two_ranks_two_workers_partition_the_samples(shards):
    reference = decoded_hashes(shards)
    seen = []
    for rank in range(2):
        hashes, _, _ = _read(_loader(shards, 2, batch_size=3, rank=rank, world_size=2))
        seen.append(set(hashes))
        assert len(hashes) == len(set(hashes)) == 12
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(reference)


def test_resampled_ranks_get_equal_fixed_batch_counts_and_disjoint_draws(shards):
    kw = {"batch_size": 4, "world_size": 2, "resampled": True, "length": 7}
    per_rank = []
    for rank in range(2):
        loader = _loader(shards, 2, rank=rank, **kw)
        assert len(loader) == 7
        epochs = [_read(loader) for _ in range(2)]
        for _, _, sizes in epochs:
            assert sizes == [4] * 7
        assert epochs[0][0] != epochs[1][0]  # a new draw each epoch
        per_rank.append(epochs[0][0])
    # Both ranks slice one shared sequence of shard draws: with one shard per batch,
    # rank 0 has draws 0, 2, 4, ... and rank 1 draws 1, 3, 5, ... of a single-rank run.
    one = {"batch_size": 4, "resampled": True, "shuffle_buffer": 0}
    single = _read(_loader(shards, 0, length=6, **one))[0]
    ranks = [_read(_loader(shards, 0, rank=r, world_size=2, length=3, **one))[0] for r in (0, 1)]
    woven = [h for i in range(3) for r in (0, 1) for h in ranks[r][4 * i : 4 * i + 4]]
    assert woven == single


def _epochs(loader, n=2) -> list[list[tuple[str, int]]]:
    return [list(zip(*_read(loader)[:2], strict=True)) for _ in range(n)]


@pytest.mark.parametrize("resampled", [True, False])
def test_the_order_is_a_function_of_seed_epoch_rank_and_worker(shards, resampled):
    kw = {"batch_size": 3, "shuffle_buffer": 8, "hflip": True, "resampled": resampled}
    kw["length"] = 4
    first = _epochs(_loader(shards, 2, **kw))
    assert _epochs(_loader(shards, 2, **kw)) == first  # a fresh loader: the same
    assert first[0] != first[1]  # another epoch: another order
    assert _epochs(_loader(shards, 2, seed=1, **kw)) != first
    assert _epochs(_loader(shards, 2, rank=1, world_size=2, **kw)) != first
    mirrored = decoded_hashes(shards, mirrored=True)
    flips = [h in mirrored for epoch in first for h, _ in epoch]
    assert 0 < sum(flips) < len(flips)  # hflip: some flipped, some not


@pytest.mark.parametrize("workers", [0, 1, 2])
@pytest.mark.parametrize("resampled", [True, False])
def test_resuming_at_any_batch_continues_the_same_batches(shards, workers, resampled):
    kw = {"batch_size": 2, "shuffle_buffer": 6, "hflip": True, "resampled": resampled}
    kw["length"] = 5 if resampled else 4
    whole = _loader(shards, workers, **kw)
    epochs = [[(tuple(x.flatten().tolist()), tuple(y.tolist())) for x, y in whole] for _ in "ab"]
    for epoch, batches in enumerate(epochs):
        for done in range(len(batches) + 1):
            resumed = _loader(shards, workers, at=(epoch, done), **kw)
            got = [(tuple(x.flatten().tolist()), tuple(y.tolist())) for x, y in resumed]
            assert got == batches[done:], (epoch, done)
            # The samples before ``done`` were skipped undecoded: never counted as good.
            assert resumed.spec.stats.good == 2 * (len(batches) - done)


def _rewrite(src: Path, dst: Path, bad_jpgs: set[int]) -> None:
    """Copy a shard, replacing the given JPEG members (by position) with garbage."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        jpgs = 0
        for member in tin.getmembers():
            data = tin.extractfile(member).read()
            if member.name.endswith(".jpg"):
                if jpgs in bad_jpgs:
                    data = b"\xff\xd8 definitely not a jpeg"
                jpgs += 1
            member.size = len(data)
            tout.addfile(member, io.BytesIO(data))


def test_corrupt_member_and_truncated_tar_are_skipped_and_counted(shards, tmp_path):
    urls = [tmp_path / p.name for p in shards]
    for src, dst in zip(shards, urls, strict=True):
        dst.write_bytes(src.read_bytes())
    _rewrite(shards[0], urls[0], {1})
    data = urls[1].read_bytes()
    urls[1].write_bytes(data[: len(data) // 2])  # cut in the middle of a member
    loader = _loader(urls, 0, batch_size=4, max_bad_fraction=0.5)
    stats = loader.spec.stats
    with pytest.warns(BadDataWarning) as caught:
        hashes, _, _ = _read(loader)
    messages = " ".join(str(w.message) for w in caught)
    assert "shard-000000.tar" in messages and "shard-000001.tar" in messages
    assert stats.bad >= 2 and 24 - 4 - 1 <= stats.good < 24 - 1
    assert len(hashes) == stats.good == len(set(hashes))
    assert set(hashes) <= set(decoded_hashes(shards))
    assert set(decoded_hashes(shards[2:])) <= set(hashes)  # intact shards fully delivered


@pytest.mark.parametrize("workers", [0, 2])
def test_too_many_failures_stop_with_the_shard_name(shards, tmp_path, workers):
    bad = tmp_path / "shard-000000.tar"
    _rewrite(shards[0], bad, {0, 1, 2, 3})
    loader = _loader([bad, *shards[1:]], workers, batch_size=4, max_bad_fraction=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadDataError, match=r"4 of \d+ samples failed.*shard-000000.tar"):
            list(loader)


def _relabel(src: Path, dst: Path, label: bytes) -> None:
    """Copy a shard, giving its second sample the label ``label``."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        labels = 0
        for member in tin.getmembers():
            data = tin.extractfile(member).read()
            if member.name.endswith(".cls"):
                data = label if labels == 1 else data
                labels += 1
            member.size = len(data)
            tout.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_negative_label_stops_the_stream_with_one_line(shards, tmp_path, workers):
    bad = tmp_path / "shard-000003.tar"
    _relabel(shards[3], bad, b"-3")
    loader = _loader([*shards[:3], bad], workers, batch_size=4, num_classes=3)
    with pytest.raises(LabelRangeError) as caught:
        _read(loader)
    assert str(caught.value).startswith(f"{bad} holds label -3, but the data has 3 classes")
    assert "\n" not in str(caught.value)
    unchecked = _loader([bad], batch_size=4)  # num_classes=None: labels pass unchecked
    assert -3 in _read(unchecked)[1]
