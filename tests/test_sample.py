"""Sample pictures: class rows at shared z, random samples, class interpolation."""

import os

import numpy as np
import pytest
import torch
from error_fixtures import command_refuses, fake_checkpoint, refuses
from PIL import Image

from an_lightning import sample
from an_lightning.models import Generator
from an_lightning.tasks import ClassConditionalGAN
from an_lightning.viz import make_grid


def generator() -> Generator:
    g = Generator(32, num_classes=5, z_dim=8, ch=4).eval()
    for m in g.modules():  # distinct classes (cbn starts with gain 1, bias 0 for all)
        if isinstance(m, torch.nn.Embedding):
            torch.nn.init.normal_(m.weight)
    return g


def test_columns_share_z_across_class_rows():
    g = generator()
    rows = sample.class_rows(g, [1, 4], 3, torch.Generator().manual_seed(0))
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(rows[:3], g(z, torch.tensor([1, 1, 1])), atol=1e-5)
    assert torch.allclose(rows[3:], g(z, torch.tensor([4, 4, 4])), atol=1e-5)


def test_interpolation_rows_start_and_end_at_the_two_classes():
    g = generator()
    rows = sample.interpolation_rows(g, [(0, 3), (3, 2)], 4, 5, torch.Generator().manual_seed(1))
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    assert rows.shape == (8, 3, 32, 32)
    ends = g(z.repeat_interleave(2, 0), torch.tensor([0, 3, 3, 2]))
    assert torch.allclose(rows[[0, 3, 4, 7]], ends, atol=1e-5)
    assert not torch.allclose(rows[1], rows[0], atol=1e-3)  # in between differs


def test_command_writes_every_picture(tiny_run, tmp_path, capsys):
    out = tmp_path / "pics"
    paths = sample.main(
        [
            str(tiny_run),
            "--out",
            str(out),
            "--classes",
            "2",
            "5",
            "7",
            "--per-class",
            "4",
            "--random",
            "16",
            "--steps",
            "5",
            "--device",
            "cpu",
        ]
    )
    names = sorted(p.name for p in paths)
    assert names == [
        "class_0002.png",
        "class_0005.png",
        "class_0007.png",
        "classes.png",
        "interpolation.png",
        "random.png",
    ]
    side = 32 + 2  # image + padding
    assert np.asarray(Image.open(out / "classes.png")).shape == (3 * side + 2, 4 * side + 2, 3)
    assert np.asarray(Image.open(out / "interpolation.png")).shape == (
        2 * side + 2,
        5 * side + 2,
        3,
    )
    assert np.asarray(Image.open(out / "random.png")).shape == (2 * side + 2, 8 * side + 2, 3)
    assert "generator iteration 4" in capsys.readouterr().out


def test_the_ema_generator_is_sampled_unless_raw(tiny_run, tmp_path):
    task = ClassConditionalGAN.load_from_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    a = sample.main(
        [str(tiny_run), "--out", str(tmp_path / "ema"), "--random", "0", "--device", "cpu"]
    )
    b = sample.main(
        [str(tiny_run), "--out", str(tmp_path / "raw"), "--random", "0", "--raw", "--device", "cpu"]
    )
    assert a[0].read_bytes() != b[0].read_bytes()
    rows = sample.class_rows(
        task.g_ema.module.eval(), list(range(10)), 8, torch.Generator().manual_seed(0)
    )

    assert np.array_equal(np.asarray(Image.open(a[0])), make_grid(rows, 8))


def test_truncation_draws_the_rows_from_truncated_latents(tiny_run, tmp_path):
    task = ClassConditionalGAN.load_from_checkpoint(tiny_run / "checkpoints" / "last.ckpt")
    base = [str(tiny_run), "--random", "0", "--device", "cpu", "--classes", "0", "1"]
    plain = sample.main([*base, "--out", str(tmp_path / "plain")])
    cut = sample.main([*base, "--out", str(tmp_path / "cut"), "--truncation", "0.3"])
    assert plain[0].read_bytes() != cut[0].read_bytes()
    g = task.g_ema.module.eval()
    rows = sample.class_rows(g, [0, 1], 8, torch.Generator().manual_seed(0), truncation=0.3)
    assert np.array_equal(np.asarray(Image.open(cut[0])), make_grid(rows, 8))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--per-class", "0"], "--per-class must be 1 or more, got 0"),
        (["--random", "-1"], "--random must be 0 or more, got -1"),
        (["--steps", "1"], "--steps must be 2 or more, got 1"),
        (["--classes", "3", "-2"], "--classes [-2] are negative"),
        (["--classes", "3", "10"], "--classes [10] outside [0, 10): the model has 10 classes"),
        (["--device", "nope"], "--device 'nope' is not a torch device"),
        (["--device", "cuda:99"], "--device cuda:99 is not usable here"),
        (["--truncation", "0"], "--truncation must be a positive threshold"),
    ],
)
def test_bad_options_stop_before_anything_is_written(tiny_run, tmp_path, capsys, extra, message):
    out = tmp_path / "pics"
    assert message in refuses(sample.main, [tiny_run, "--out", out, *extra], capsys)
    assert not out.exists()


def test_bad_paths_and_checkpoints_stop_before_anything_is_written(tiny_run, tmp_path, capsys):
    out, file = tmp_path / "pics", tmp_path / "file.png"
    file.write_bytes(b"not a folder")
    line = refuses(sample.main, [tiny_run, "--out", file], capsys)
    assert f"--out {file} is a file, but names the folder to write into" in line
    line = refuses(sample.main, [tiny_run, "--out", file / "pics"], capsys)
    assert f"cannot be created: {file} is a file" in line
    cases = {  # the RunErrors of cli/checkpoint.py, and a checkpoint without model config
        tmp_path / "none.ckpt": "does not exist",
        file: str(file),  # not a checkpoint at all
        tmp_path: "holds no",
        fake_checkpoint(tmp_path / "i.ckpt", "an_lightning.tasks.Inpainting"): "ClassConditional",
        fake_checkpoint(tmp_path / "g.ckpt", "an_lightning.tasks.ClassConditionalGAN"): (
            f"cannot load the model from {tmp_path / 'g.ckpt'}"
        ),
    }
    for ckpt, message in cases.items():
        assert message in refuses(sample.main, [ckpt, "--out", out], capsys), ckpt
        assert not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_folder_that_cannot_be_written_is_refused(tiny_run, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = refuses(sample.main, [tiny_run, "--out", locked / "pics"], capsys)
    assert "is not writable by you" in line and not (locked / "pics").exists()


def test_the_command_exits_2_with_one_line_and_writes_nothing(tiny_run, tmp_path):
    file = tmp_path / "file.png"
    file.write_bytes(b"not a folder")
    line = command_refuses("an_lightning.sample", tiny_run, "--out", file / "sub", "--per-class", 2)
    assert "cannot be created" in line and file.read_bytes() == b"not a folder"
    out = tmp_path / "pics"
    line = command_refuses("an_lightning.sample", file, "--out", out, not_created=[out])
    assert str(file) in line  # a RunError of cli/checkpoint.py


def test_debug_mode_keeps_the_traceback(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setenv("AN_LIGHTNING_DEBUG", "1")
    with pytest.raises(ValueError, match="--per-class must be 1 or more"):
        sample.main([str(tiny_run), "--out", str(tmp_path / "pics"), "--per-class", "0"])
