import io
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import class_folders, decoded_hashes, tensor_hashes

from an_lightning.data.failures import (
    BadDataError,
    BadDataWarning,
    FailureStats,
    LabelRangeError,
)
from an_lightning.data.shards import Options, write_shards
from an_lightning.data.stream import batches_per_rank, collate, make_loader, shard_stream


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
        assert images.shape[1:] == (3, 16, 16)
        hashes += tensor_hashes(images)
        labels += y.tolist()
        sizes.append(len(y))
    return hashes, labels, sizes


def _stream(urls, **kw):
    stats = FailureStats(kw.pop("max_bad_fraction", 0.0))
    return shard_stream([str(u) for u in urls], stats=stats, image_size=16, **kw), stats


@pytest.mark.parametrize("workers", [0, 2])
def test_every_sample_exactly_once(shards, workers):
    reference = decoded_hashes(shards)
    pipeline, stats = _stream(shards, batch_size=5, shuffle_buffer=10)
    hashes, labels, sizes = _read(make_loader(pipeline, workers))
    assert sorted(hashes) == sorted(reference)  # all 24, none twice
    assert [reference[h] for h in hashes] == labels
    assert (stats.good, stats.bad) == (24, 0)  # counted in the workers, read here
    assert sum(sizes) == 24


def test_two_ranks_two_workers_partition_the_samples(shards):
    reference = decoded_hashes(shards)
    seen = []
    for rank in range(2):
        pipeline, _ = _stream(shards, batch_size=3, rank=rank, world_size=2)
        hashes, _, _ = _read(make_loader(pipeline, 2))
        seen.append(set(hashes))
        assert len(hashes) == len(set(hashes)) == 12
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(reference)


def test_resampled_ranks_get_equal_fixed_batch_counts(shards):
    for rank in range(2):
        pipeline, _ = _stream(
            shards, batch_size=4, rank=rank, world_size=2, resampled=True, partial_batches=False
        )
        loader = make_loader(pipeline, 2, batches_per_epoch=7)
        assert len(loader) == 7
        epochs = [_read(loader) for _ in range(2)]
        for _, _, sizes in epochs:
            assert sizes == [4] * 7
        assert epochs[0][0] != epochs[1][0]  # a new draw each epoch


def test_batches_per_rank_matches_the_stream(shards):
    expected = batches_per_rank([4] * 6, 2, 2, 5, partial=True)
    for rank in range(2):
        pipeline, _ = _stream(shards, batch_size=5, rank=rank, world_size=2)
        assert len(_read(make_loader(pipeline, 2))[2]) == expected[rank]
    assert batches_per_rank([10, 3, 7], 2, 1, 4, partial=False) == [4, 0]


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
    pipeline, stats = _stream(urls, batch_size=4, max_bad_fraction=0.5)
    with pytest.warns(BadDataWarning) as caught:
        hashes, _, _ = _read(make_loader(pipeline, 0))
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
    pipeline, _ = _stream([bad, *shards[1:]], batch_size=4, max_bad_fraction=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadDataError, match=r"4 of \d+ samples failed.*shard-000000.tar"):
            list(make_loader(pipeline, workers))


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
    pipeline, _ = _stream([*shards[:3], bad], batch_size=4, num_classes=3)
    with pytest.raises(LabelRangeError) as caught:
        _read(make_loader(pipeline, workers))
    assert str(caught.value).startswith(f"{bad} holds label -3, but the data has 3 classes")
    assert "\n" not in str(caught.value)
    unchecked, _ = _stream([bad], batch_size=4)  # num_classes=None: labels pass unchecked
    assert -3 in _read(make_loader(unchecked, 0))[1]


class _CollateInWorker(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i):
        samples = [(np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) + k, k) for k in range(2)]
        images, labels = collate(samples)
        return images, labels, images.is_shared()


def test_collate_is_nchw_and_allocates_in_shared_memory_in_workers():
    a = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    images, labels = collate([(a[0], 3), (a[1], 7)])
    assert images.shape == (2, 3, 4, 5) and images.is_contiguous() and not images.is_shared()
    assert torch.equal(images, torch.from_numpy(a).permute(0, 3, 1, 2))
    assert labels.tolist() == [3, 7]
    loader = torch.utils.data.DataLoader(_CollateInWorker(), batch_size=None, num_workers=1)
    images, labels, shared = next(iter(loader))
    assert shared and images[1, 2, 3, 4] == images[0, 2, 3, 4] + 1


def test_collate_of_mixed_sizes_names_the_fix():
    with pytest.raises(ValueError, match="image_size"):
        collate([(np.zeros((4, 4, 3), np.uint8), 0), (np.zeros((5, 4, 3), np.uint8), 0)])
