"""The inference command end to end: any size, bit-exact known pixels, clear errors."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from error_fixtures import command_refuses, fake_checkpoint, refuses
from PIL import Image

from an_lightning import inpaint


@pytest.fixture
def checkpoint(inpaint_run):
    return inpaint_run / "checkpoints/last.ckpt"


@pytest.fixture
def inputs(tmp_path):
    """A 37x29 RGB photo crop (sides not multiples of 4) and a mask with a hole."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (29, 37, 3), dtype=np.uint8)
    mask = np.zeros((29, 37), dtype=np.uint8)
    mask[5:15, 10:30] = 255
    Image.fromarray(image).save(tmp_path / "image.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path, image, mask > 0


def args(folder, ckpt, image="image.png", mask="mask.png", out="out.png"):
    return [
        str(ckpt),
        "--image",
        str(folder / image),
        "--mask",
        str(folder / mask),
        "--out",
        str(folder / out),
    ]


def test_fills_the_hole_and_keeps_known_pixels_bit_exact(checkpoint, inputs, capsys):
    folder, image, mask = inputs
    inpaint.main(args(folder, checkpoint))
    assert "200 pixels filled" in capsys.readouterr().out
    out = np.asarray(Image.open(folder / "out.png"))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], image[~mask])
    assert not np.array_equal(out[mask], image[mask])  # the hole was generated, not copied


def expect_exit(argv, capsys, *words):
    line = refuses(inpaint.main, argv, capsys)
    for word in words:
        assert word in line, line
    return line


def test_bad_inputs_exit_2_with_one_line_naming_problem_and_fix(checkpoint, inputs, capsys):
    folder = inputs[0]
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(folder / "small.png")
    Image.fromarray(np.zeros((29, 37), np.uint8)).save(folder / "empty.png")
    Image.fromarray(np.full((29, 37), 255, np.uint8)).save(folder / "full.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    expect_exit(
        args(folder, checkpoint, mask="small.png"), capsys, "10x10", "37x29", "make the mask"
    )
    expect_exit(args(folder, checkpoint, mask="empty.png"), capsys, "no white pixels")
    expect_exit(args(folder, checkpoint, mask="full.png"), capsys, "white everywhere")
    expect_exit(args(folder, checkpoint, image="broken.png"), capsys, "cannot read image", "PNG")
    expect_exit(args(folder, checkpoint, image="nope.png"), capsys, "does not exist")
    (folder / "pics").mkdir()
    expect_exit(args(folder, checkpoint, image="pics"), capsys, "is a folder; pass an image")
    expect_exit(args(folder, folder / "none.ckpt"), capsys, "does not exist", ".ckpt file")
    broken = folder / "broken.png"
    expect_exit(args(folder, broken), capsys, str(broken))  # not a checkpoint: RunError
    expect_exit(args(folder, checkpoint, out="out.jpg"), capsys, "must end in .png")
    gan = folder / "gan.ckpt"
    torch.save(
        {
            "state_dict": {},
            "hyper_parameters": {"_class_path": "an_lightning.tasks.ClassConditionalGAN"},
        },
        gan,
    )
    expect_exit(args(folder, gan), capsys, "ClassConditionalGAN", "needs an Inpainting")
    torch.save({"state_dict": {}, "hyper_parameters": {}}, folder / "bare.ckpt")
    expect_exit(args(folder, folder / "bare.ckpt"), capsys, "no model config")
    fake_checkpoint(folder / "empty.ckpt", "an_lightning.tasks.Inpainting")
    expect_exit(args(folder, folder / "empty.ckpt"), capsys, "cannot load the model from")


def test_bad_outputs_and_devices_exit_2_before_the_model_is_loaded(inputs, capsys):
    folder = inputs[0]
    ckpt = folder / "never-read.ckpt"
    (folder / "taken.png").mkdir()
    (folder / "file").write_text("a file")
    expect_exit(args(folder, ckpt, out="taken.png"), capsys, "is a folder; pass the path")
    expect_exit(args(folder, ckpt, out="file/out.png"), capsys, "file is a file, not a folder")
    expect_exit(args(folder, ckpt, out="image.png"), capsys, "is one of the inputs")
    expect_exit([*args(folder, ckpt), "--device", "nope"], capsys, "not a torch device")
    assert not (folder / "out.png").exists()
    out = folder / "new" / "out.png"
    line = command_refuses(
        "an_lightning.inpaint", *args(folder, ckpt)[:-1], out, not_created=[out.parent]
    )
    assert f"{ckpt} does not exist" in line


@pytest.mark.slow
def test_runs_as_a_module(checkpoint, inputs):
    folder, image, mask = inputs
    cmd = [sys.executable, "-m", "an_lightning.inpaint", *args(folder, checkpoint)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = np.asarray(Image.open(folder / "out.png"))
    assert np.array_equal(out[~mask], image[~mask])
    bad = subprocess.run([*cmd[:-1], str(folder / "x.gif")], capture_output=True, text=True)
    assert bad.returncode == 2 and "must end in .png" in bad.stderr
