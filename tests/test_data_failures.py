import multiprocessing

import pytest

from an_lightning.data.failures import (
    BadDataError,
    BadDataWarning,
    FailureStats,
    LabelRangeError,
    check_label,
)


def test_counts_and_threshold_after_min_samples():
    stats = FailureStats(max_bad_fraction=0.1, min_samples=20)
    for _ in range(8):
        stats.record_good()
    with pytest.warns(BadDataWarning, match="a.tar"):
        stats.record_bad("a.tar", "broken jpeg")  # 1 of 9: under min_samples, no error
    assert (stats.good, stats.bad) == (8, 1)
    with pytest.raises(BadDataError, match=r"1 of 9 samples failed .* a.tar \(1\)"):
        stats.check(final=True)
    for _ in range(11):
        stats.record_good()
    stats.check(final=True)  # 1 of 20 = 5% < 10%
    with pytest.warns(BadDataWarning), pytest.raises(BadDataError, match=r"b\.tar"):
        for _ in range(3):
            stats.record_bad("b.tar", "truncated")


def test_handler_finds_the_shard_in_webdataset_exception_args():
    stats = FailureStats(max_bad_fraction=1.0)
    exc = ValueError("unexpected end of data", None, "/data/shard-000007.tar")
    with pytest.warns(BadDataWarning, match="shard-000007.tar"):
        assert stats.handler(exc) is True
    exc = OSError("read failed @ <_io.BufferedReader name='/d/shard-000002.tar'>")
    with pytest.warns(BadDataWarning, match="/d/shard-000002.tar"):
        stats.handler(exc)
    assert stats.bad == 2


def test_an_unreadable_shard_counts_as_the_samples_it_held():
    stats = FailureStats(max_bad_fraction=0.05, min_samples=1000)
    stats.record_good(36)
    exc = EOFError("unexpected end of data", "/d/shard-000004.tar")
    exc.samples_lost = 4  # what tario sets from index.json
    with pytest.warns(BadDataWarning, match="skipped 4 samples"):
        stats.handler(exc)
    assert (stats.good, stats.bad) == (36, 4)
    with pytest.raises(BadDataError, match=r"4 of 40 samples failed .*shard-000004.tar \(4\)"):
        stats.check(final=True)


def test_labels_outside_the_class_range_are_one_line_errors():
    check_label(0, 3, "s.tar")
    check_label(2, 3, "s.tar")
    check_label(-1, 0, "s.tar")  # unlabelled data
    for label, classes in [(3, 3), (-1, 3), (-5, 3), (0, 0)]:
        with pytest.raises(LabelRangeError, match=f"s.tar holds label {label}, but the data has"):
            check_label(label, classes, "s.tar")


def _worker(stats):
    stats.record_good()
    stats.record_good()


def test_counters_are_shared_with_child_processes():
    stats = FailureStats()
    proc = multiprocessing.Process(target=_worker, args=(stats,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0 and stats.good == 2


def test_bad_fraction_is_validated():
    with pytest.raises(ValueError, match="max_bad_fraction"):
        FailureStats(1.5)
