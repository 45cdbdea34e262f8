"""Training callbacks: periodic FID of the raw and EMA generators and layout pictures."""

import csv

import pytest
from fit_fixtures import tiny_config, write

from an_lightning import evaluate, fit
from an_lightning.callbacks import LayoutImages, TrainingFID


@pytest.fixture(scope="module")
def run_with_callbacks(tmp_path_factory, toy_features):
    root = tmp_path_factory.mktemp("callbacks")
    config = tiny_config(root / "run", max_g_steps=5)
    fid = {"every": 2, "num_samples": 6, "reference_images": 30, "prdc": True}
    fid |= {"feature_network": str(toy_features), "cache_dir": str(root / "cache")}
    config["trainer"]["callbacks"] = [
        {"class_path": "an_lightning.callbacks.TrainingFID", "init_args": fid},
        {"class_path": "an_lightning.callbacks.LayoutImages", "init_args": {"every": 2}},
    ]
    fit.main([str(write(root / "tiny.yaml", config))])
    return root


def fid_rows(run, generator: str = "ema", metric: str = "fid") -> dict[int, float]:
    key = f"{metric}/{generator}"
    with open(run / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get(key)]
    return {int(float(r["g_iter"])): float(r[key]) for r in rows}


def test_fid_is_logged_every_n_iterations_and_at_the_end(run_with_callbacks):
    for generator in ("raw", "ema"):
        values = fid_rows(run_with_callbacks / "run", generator)
        assert sorted(values) == [2, 4, 5] and all(v > 0 for v in values.values())
    assert fid_rows(run_with_callbacks / "run", "raw") != fid_rows(run_with_callbacks / "run")
    assert len(list((run_with_callbacks / "cache").glob("*.pt"))) == 1


def test_prdc_is_logged_with_fid(run_with_callbacks):
    for generator in ("raw", "ema"):
        for metric in ("precision", "recall", "density", "coverage"):
            values = fid_rows(run_with_callbacks / "run", generator, metric)
            assert sorted(values) == [2, 4, 5], (metric, generator)
            assert all(v >= 0 for v in values.values())
            if metric != "density":  # fractions; density is not capped at 1
                assert all(v <= 1 for v in values.values())


def test_training_fid_equals_the_evaluation_command(run_with_callbacks, toy_features):
    """Same weights, latents, labels and (cached) reference: the same numbers, for G and
    for its EMA."""
    root = run_with_callbacks
    result = evaluate.main(
        [
            str(root / "run"),
            "--feature-network",
            str(toy_features),
            "--metrics",
            "fid,kid,prdc",
            "--num-samples",
            "6",
            "--reference-images",
            "30",
            "--cache-dir",
            str(root / "cache"),
            "--device",
            "cpu",
            "--num-workers",
            "0",
        ]
    )
    for generator in ("raw", "ema"):
        want = fid_rows(root / "run", generator)[5]
        assert result[f"fid/{generator}"] == pytest.approx(want, rel=1e-5)
        for metric in ("precision", "recall", "density", "coverage"):
            want = fid_rows(root / "run", generator, metric)[5]
            assert result[f"{metric}/{generator}"] == pytest.approx(want, abs=1e-12), metric
    assert len(list((root / "cache").glob("*.pt"))) == 1  # the evaluation reused the cache


def test_layout_pictures_are_written_during_training(run_with_callbacks):
    names = sorted(p.name for p in (run_with_callbacks / "run" / "layouts").glob("*.png"))
    for step in ("0000002", "0000004", "0000005"):
        for net in ("G.after.1.0.norm", "D.after.0.0.norm"):
            assert f"{net}_binary_{step}.png" in names and f"{net}_soft_{step}.png" in names


def test_bad_settings_fail_when_the_config_is_built():
    with pytest.raises(ValueError, match="every >= 1"):
        TrainingFID(every=0)
    with pytest.raises(ValueError, match="prdc needs num_samples"):
        TrainingFID(num_samples=5, prdc=True)
    for bad in ((), ("ema", "ema"), ("raw", "g_ema")):
        with pytest.raises(ValueError, match="generators must be distinct names"):
            TrainingFID(generators=bad)
    with pytest.raises(ValueError, match="per_class >= 1"):
        LayoutImages(per_class=0)
