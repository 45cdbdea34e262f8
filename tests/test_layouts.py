"""The layouts command on a checkpoint with AN in G and D."""

import numpy as np
import pytest
from error_fixtures import command_refuses, refuses
from PIL import Image

from an_lightning import layouts


def test_lists_and_renders_every_an_layer(tiny_run, tmp_path, capsys):
    layouts.main([str(tiny_run), "--out", str(tmp_path), "--list", "--device", "cpu"])
    listed = capsys.readouterr().out
    assert "G.after." in listed and "D.after." in listed and "16 entities at 16x16" in listed
    paths = layouts.main(
        [
            str(tiny_run),
            "--out",
            str(tmp_path),
            "--classes",
            "1",
            "2",
            "--per-class",
            "3",
            "--device",
            "cpu",
        ]
    )
    assert len(paths) == 4 and {p.name.split("_")[-1] for p in paths} == {"binary.png", "soft.png"}
    soft = next(p for p in paths if p.name.startswith("G.") and p.name.endswith("soft.png"))
    side = 32 + 2
    assert np.asarray(Image.open(soft)).shape == (6 * side + 2, 17 * side + 2, 3)


def test_one_layer_by_name(tiny_run, tmp_path):
    name = "D.after.0.0.norm"
    paths = layouts.main(
        [str(tiny_run), "--out", str(tmp_path), "--layers", name, "--device", "cpu"]
    )
    assert sorted(p.name for p in paths) == [f"{name}_binary.png", f"{name}_soft.png"]


def test_unknown_layers_name_the_ones_that_exist(tiny_run, tmp_path, capsys):
    out = tmp_path / "pics"
    line = refuses(layouts.main, [tiny_run, "--out", out, "--layers", "G.nope"], capsys)
    assert "no layout in layers ['G.nope']; layers with one" in line and not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--per-class", "0"], "--per-class must be 1 or more, got 0"),
        (["--classes", "-1"], "--classes [-1] are negative"),
        (["--classes", "2", "12"], "--classes [12] outside [0, 10)"),
        (["--device", "gpu"], "--device 'gpu' is not a torch device"),
    ],
)
def test_bad_options_stop_before_anything_is_written(tiny_run, tmp_path, capsys, extra, message):
    out = tmp_path / "pics"
    assert message in refuses(layouts.main, [tiny_run, "--out", out, *extra], capsys)
    assert not out.exists()


def test_bad_paths_stop_before_the_model_is_loaded(tmp_path, capsys):
    file = tmp_path / "taken"
    file.write_text("a file")
    ckpt = tmp_path / "none.ckpt"  # never read: --out is checked first
    assert "is a file, but names the folder" in refuses(layouts.main, [ckpt, "--out", file], capsys)
    line = command_refuses("an_lightning.layouts", ckpt, "--out", tmp_path / "pics")
    assert f"{ckpt} does not exist" in line and not (tmp_path / "pics").exists()
