"""The loader benchmark runs end to end and reports its ratio from its own numbers."""

import argparse
import json

import pytest

from benchmarks import data_speed

TINY = ["--images", "96", "--batch-size", "16", "--repeats", "2", "--epochs", "1"]


def test_small_run_reports_loaders_training_and_estimate(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [*TINY, "--workers", "0", "1", "--ch", "4", "--train-batch", "2"]
    assert data_speed.main([*argv, "--train-iters", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())

    rows = {(r["loader"], r["workers"]): r for r in result["loaders"]}
    assert set(rows) == {(name, w) for name in data_speed.LOADERS for w in (0, 1)}
    for r in rows.values():
        assert len(r["repeats"]) == 2 and all(rate > 0 for rate in r["repeats"])
        assert r["min"] <= r["images_per_s"] <= r["max"]

    loader = rows[(data_speed.SHARDS, 1)]["images_per_s"]
    training = result["training"]
    assert (training["device"], training["batch"], training["ch"]) == ("cpu", 2, 4)
    assert training["timed_iters"] == 1
    assert training["images_per_s"] == pytest.approx(2 / training["s_per_iter"])
    assert training["loader_images_per_s"] == loader
    assert training["ratio"] == pytest.approx(loader / training["images_per_s"])
    assert training["met"] == (training["ratio"] >= result["target_ratio"] == 5)

    estimate = result["gpu_estimate"]
    assert "estimate" in estimate["kind"]
    ceiling = estimate["peak_tflops"] * 1e12 / estimate["flops_per_image"]
    assert estimate["ceiling_images_per_s"] == pytest.approx(ceiling)
    assert estimate["ratio_at_ceiling"] == pytest.approx(loader / ceiling)
    assert estimate["ratio_at_assumed"] == pytest.approx(
        loader / (ceiling * estimate["assumed_utilisation"])
    )
    assert result["machine"]["cpus"] >= 1 and result["bytes_per_image"]["shards"] > 0
    printed = capsys.readouterr().out
    assert "ESTIMATE (not measured)" in printed and "measured ratio" in printed


def test_skip_train_still_reports_the_estimate(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [*TINY, "--repeats", "1", "--workers", "1", "--ch", "4", "--skip-train"]
    assert data_speed.main([*argv, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["training"] is None
    assert [r["workers"] for r in result["loaders"]] == [1, 1, 1]
    assert result["gpu_estimate"]["flops_per_image"] > 0
    assert "measured ratio" not in capsys.readouterr().out


def test_estimate_is_plain_arithmetic():
    args = argparse.Namespace(gpu_name="gpu", gpu_tflops=100.0, gpu_utilisation=0.5)
    e = data_speed.gpu_estimate(1e11, loader_rate=10_000.0, args=args)
    assert e["ceiling_images_per_s"] == pytest.approx(1000.0)
    assert e["assumed_images_per_s"] == pytest.approx(500.0)
    assert e["ratio_at_ceiling"] == pytest.approx(10.0) and e["met_at_ceiling"]
    assert e["ratio_at_assumed"] == pytest.approx(20.0) and e["met_at_assumed"]


def test_workers_must_include_one():
    with pytest.raises(SystemExit):
        data_speed.parse_args(["--workers", "0", "2"])
