"""The layouts command on a checkpoint with AN in G and D."""

import numpy as np
import pytest
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


def test_unknown_layers_name_the_ones_that_exist(tiny_run, tmp_path):
    with pytest.raises(SystemExit, match=r"no layout in layers \['G.nope'\]; layers with one"):
        layouts.main([str(tiny_run), "--out", str(tmp_path), "--layers", "G.nope"])
