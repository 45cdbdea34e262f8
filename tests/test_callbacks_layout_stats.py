"""LayoutEntropy: layout entropy and top probability of every AN, logged to metrics.csv."""

import csv
import math
from types import SimpleNamespace

import pytest
import torch
from fit_fixtures import tiny_config, write

from an_lightning import fit
from an_lightning.callbacks import LayoutEntropy
from an_lightning.callbacks.layout_stats import layout_statistics
from an_lightning.norms import build_norm


def test_layout_statistics_of_uniform_and_one_hot_layouts():
    uniform = torch.full((2, 4, 3, 3), 0.25)
    entropy, top = layout_statistics(uniform)
    assert entropy.item() == pytest.approx(1.0) and top.item() == pytest.approx(0.25)
    one_hot = torch.zeros(2, 4, 3, 3)
    one_hot[:, 1] = 1.0
    entropy, top = layout_statistics(one_hot)
    assert entropy.item() == 0.0 and top.item() == 1.0
    half = torch.zeros(1, 4, 1, 1)
    half[0, :2] = 0.5
    assert layout_statistics(half)[0].item() == pytest.approx(math.log(2) / math.log(4))


def test_both_an_variants_are_measured():
    torch.manual_seed(0)
    g = torch.nn.Sequential(build_norm("an", 8, n=4), build_norm("an_official", 8, n=4)).eval()
    g(torch.randn(2, 8, 4, 4))
    found = LayoutEntropy().statistics(SimpleNamespace(generator=g))
    assert set(found) == {f"layout/G.{i}/{s}" for i in "01" for s in ("entropy", "top_prob")}


def test_every_must_be_positive_and_on_the_logging_cadence():
    with pytest.raises(ValueError, match="every"):
        LayoutEntropy(every=0)
    trainer = SimpleNamespace(log_every_n_steps=2)
    with pytest.raises(ValueError, match="multiple"):
        LayoutEntropy(every=3).on_fit_start(trainer, None)
    default = LayoutEntropy()
    default.on_fit_start(trainer, None)
    assert default.every == 2


def test_logged_to_metrics_csv_during_training(tmp_path):
    config = tiny_config(tmp_path / "run", max_g_steps=4)
    config["trainer"]["log_every_n_steps"] = 2
    config["trainer"]["callbacks"] = [{"class_path": "an_lightning.callbacks.LayoutEntropy"}]
    fit.main([str(write(tmp_path / "tiny.yaml", config))])
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    keys = {k for row in rows for k, v in row.items() if k.startswith("layout/") and v}
    nets = {k.split("/")[1].split(".")[0] for k in keys}
    assert nets == {"G", "D"} and all(k.endswith(("/entropy", "/top_prob")) for k in keys)
    logged = [row for row in rows if any(row.get(k) for k in keys)]
    assert [int(float(row["g_iter"])) for row in logged] == [2, 4]  # log_every_n_steps
    for row in logged:
        for key in keys:
            value = float(row[key])
            assert (0.0 < value <= 1.0) if key.endswith("entropy") else (1 / 16 <= value <= 1.0)
