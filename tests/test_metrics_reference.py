"""Reference statistics of real digits: equal to a one-shot computation, cached and keyed."""

import multiprocessing
from pathlib import Path

import pytest
import torch
from process_fixtures import run_together
from torch import nn

from an_lightning.data.digits_data import load_digits_uint8
from an_lightning.metrics.features import InceptionFeatures
from an_lightning.metrics.frechet import GaussianStats, frechet_distance
from an_lightning.metrics.reference import (
    ReferenceStats,
    cached_reference,
    compute_reference,
    reference_path,
)


class ChannelStats(nn.Module):
    """A cheap stand-in for Inception: per-channel mean and std (6 features)."""

    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1)


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits_uint8(16)
    return images[:120], labels[:120]


@pytest.fixture(scope="module")
def features():
    return InceptionFeatures(ChannelStats(), "channel-stats", num_features=6)


def batches(digits, size=32):
    images, labels = digits
    return list(zip(images.split(size), labels.split(size), strict=True))


def test_streamed_statistics_equal_a_one_shot_computation(digits, features):
    images, labels = digits
    ref = compute_reference(batches(digits), features, "digits16", classes=[3, 7], kid_count=50)
    all_feats = features(images)["pool"]
    whole = GaussianStats.from_features(all_feats)
    torch.testing.assert_close(ref.overall.mean, whole.mean)
    torch.testing.assert_close(ref.overall.cov, whole.cov)
    assert ref.overall.count == 120 and ref.network == "channel-stats"
    seven = GaussianStats.from_features(all_feats[labels == 7])
    torch.testing.assert_close(ref.per_class[7].cov, seven.cov)
    assert ref.kid_features.shape == (50, 6)
    torch.testing.assert_close(ref.kid_features, all_feats[:50])
    # [-1, 1] floats quantise back to the same uint8 images, hence the same statistics.
    as_float = [(x.float() / 127.5 - 1, y) for x, y in batches(digits)]
    again = compute_reference(as_float, features, "digits16")
    assert frechet_distance(again.overall, ref.overall) == pytest.approx(0, abs=1e-6)


def test_limit_stops_early(digits, features):
    ref = compute_reference(batches(digits), features, "digits16", limit=50)
    assert ref.overall.count == 50


def test_cache_is_reused_and_keyed_by_dataset_and_network(digits, features, tmp_path):
    first = cached_reference(tmp_path, batches(digits), features, "digits16", classes=[1])
    path = reference_path(tmp_path, "digits16", "channel-stats")
    assert path.is_file()

    def never():
        raise AssertionError("the cache should have been used")
        yield

    second = cached_reference(tmp_path, never(), features, "digits16", classes=[1])
    torch.testing.assert_close(second.per_class[1].mean, first.per_class[1].mean)
    with pytest.raises(ValueError, match="delete the file"):
        ReferenceStats.load(path, "digits16", "another-network")
    with pytest.raises(ValueError, match="delete the file"):
        ReferenceStats.load(path, "imagenet128", "channel-stats")
    # Asking for more than the cache holds recomputes it.
    third = cached_reference(tmp_path, batches(digits), features, "digits16", classes=[1, 2])
    assert set(third.per_class) == {1, 2}


def test_a_class_without_real_images_is_an_error(digits, features):
    with pytest.raises(ValueError, match=r"classes \[42\]"):
        compute_reference(batches(digits), features, "digits16", classes=[42])


def test_read_and_load_share_one_checked_path(digits, features, tmp_path):
    ref = compute_reference(batches(digits), features, "digits16", classes=[1], kid_count=7)
    path = tmp_path / "ref.pt"
    ref.save(path)
    back = ReferenceStats.read(path)
    assert (back.dataset, back.network) == ("digits16", "channel-stats")
    torch.testing.assert_close(back.overall.cov, ref.overall.cov)
    assert back.overall.count == ref.overall.count and back.kid_features.shape[0] == 7
    loaded = ReferenceStats.load(path, "digits16", "channel-stats")
    torch.testing.assert_close(loaded.per_class[1].mean, ref.per_class[1].mean)
    torch.save({"version": 0}, tmp_path / "old.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    for reader in (ReferenceStats.read, lambda p: ReferenceStats.load(p, "x", "y")):
        with pytest.raises(ValueError, match="format 1 \\(found 0\\)"):
            reader(tmp_path / "old.pt")
        with pytest.raises(ValueError, match="cannot read reference statistics"):
            reader(tmp_path / "junk.pt")


def _save_and_read(path: str, dim: int, rounds: int, errors) -> None:
    """One job of a sweep sharing the cache: writes the statistics, reads them back."""
    stats = GaussianStats(torch.zeros(dim, dtype=torch.float64), torch.eye(dim).double(), 9)
    ref = ReferenceStats("digits16", "channel-stats", stats)
    for _ in range(rounds):
        try:
            ref.save(Path(path))
            ReferenceStats.load(Path(path), "digits16", "channel-stats")
        except Exception as err:  # reported to the test, which names the first
            errors.put(f"{type(err).__name__}: {err}")
            return


def test_jobs_writing_the_cache_at_once_leave_it_readable(tmp_path):
    """Four processes save and read one cache file 12 times each (an 8 MB file, as a
    1024-feature network's): every read finds a whole file, no save loses its temporary
    file to another, and no temporary file is left. With one shared temporary name
    (before) most of the rounds failed."""
    # Spawned, not forked: a child forked from the suite's process (its OpenMP threads
    # running) hung in its first tensor op.
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    path = tmp_path / "cache" / "digits16__channel-stats.pt"
    args = (str(path), 1024, 12, errors)
    assert run_together(ctx, _save_and_read, [args] * 4, timeout=240) == [0] * 4
    found = [errors.get() for _ in range(errors.qsize())]
    assert not found, found[0]
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert ReferenceStats.read(path).overall.count == 9
