"""``python -m an_lightning.evaluate`` on an inpainting checkpoint: PSNR / SSIM / MAE."""

import csv
import json
import math

import pytest

from an_lightning import evaluate


def test_evaluate_scores_an_inpainting_run_on_its_fixed_masks(inpaint_run, capsys):
    result = evaluate.main([str(inpaint_run), "--batch-size", "4"])
    logged = list(csv.DictReader((inpaint_run / "metrics.csv").open()))
    validated = next(row for row in logged if row.get("val/psnr_rect"))
    for key in ("psnr/rect", "ssim/medium", "mae/thick"):  # the same images, masks, weights
        name, preset = key.split("/")
        assert math.isclose(result[key], float(validated[f"val/{name}_{preset}"]), rel_tol=1e-5)
    for preset in ("rect", "thin", "medium", "thick"):
        assert 5 < result[f"psnr/{preset}"] < 60
        assert 0 < result[f"ssim/{preset}"] <= 1 and 0 <= result[f"mae/{preset}"] < 1
    assert result["images"] == 6 and result["generator"] == "ema"
    assert result["masks"] == str(inpaint_run.parent / "eval_masks")  # the run's own mask set
    record = json.loads((inpaint_run / "checkpoints/last.eval.json").read_text())
    assert record[-1]["task"] == "Inpainting" and record[-1]["results"] == result
    assert "psnr/rect" in capsys.readouterr().out


def test_fid_of_the_filled_images_on_request(inpaint_run, toy_features):
    result = evaluate.main(
        [
            str(inpaint_run),
            "--batch-size",
            "4",
            "--metrics",
            "psnr,fid",
            "--feature-network",
            str(toy_features),
        ]
    )
    assert {k.split("/")[0] for k in result if "/" in k} == {"psnr", "fid"}
    assert all(result[f"fid/{p}"] > 0 for p in ("rect", "thin", "medium", "thick"))
    assert result["feature_network"].startswith("file:toy.pt:")


def test_unknown_inpainting_metrics_are_an_error(inpaint_run):
    with pytest.raises(SystemExit, match=r"unknown metrics \['kid'\] for inpainting"):
        evaluate.main([str(inpaint_run), "--metrics", "psnr,kid"])
