"""``python -m an_lightning.evaluate`` on an inpainting checkpoint: PSNR / SSIM / MAE."""

import csv
import json
import math

from error_fixtures import refuses

from an_lightning import evaluate
from an_lightning.cli.evaluate_inpaint import run_dir_of
from an_lightning.data.masks import load_eval_masks


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


def test_bad_inpainting_options_are_one_line_errors_and_write_nothing(
    inpaint_run, tmp_path, capsys
):
    records = inpaint_run / "checkpoints" / "last.eval.json"
    before = records.read_bytes() if records.exists() else None
    masks = tmp_path / "masks"
    file = tmp_path / "file"
    file.write_text("a file")
    small = tmp_path / "small"
    load_eval_masks(small, 16, 4, presets=("rect",))  # the run validated at 32 px
    cases = {
        ("--metrics", "psnr,kid"): "unknown metrics ['kid'] for inpainting",
        ("--ref", file): f"--ref {file} is not a folder",
        ("--masks", file): f"--masks {file} is a file",
        ("--masks", file / "masks"): f"cannot be created: {file} is a file",
        ("--masks", masks, "--metrics", "fid", "--feature-network", file): "is not a Torch",
        ("--masks", small): f"{small / 'rect' / '0000.png'} is 16x16, expected 32x32",
        ("--truncation", "0.5"): "--truncation is for class-conditional GANs",
    }
    for extra, message in cases.items():
        line = refuses(evaluate.main, [inpaint_run, "--batch-size", "4", *extra], capsys)
        assert message in line, line
    assert not masks.exists()  # the mask set is written only once everything else is good
    assert sorted(p.name for p in small.iterdir()) == ["rect"]  # nothing added
    assert (records.read_bytes() if records.exists() else None) == before


def test_the_run_directory_of_a_checkpoint(tmp_path):
    assert run_dir_of(tmp_path / "run/checkpoints/last.ckpt") == tmp_path / "run"
    assert run_dir_of(tmp_path / "run/hpc_ckpt_3.ckpt") == tmp_path / "run"  # preemption
