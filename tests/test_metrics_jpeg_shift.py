"""The JPEG-vs-lossless FID measurement on real photos, at a tiny size."""

import functools
import json

import numpy as np
import pytest
import torch
from error_fixtures import command_refuses, refuses

from an_lightning.cli.errors import command_errors
from an_lightning.data.pipeline import image_decoder
from an_lightning.data.preprocess import encode
from an_lightning.metrics import jpeg_shift
from an_lightning.metrics.frechet import GaussianStats, frechet_distance


def test_the_fast_frechet_distance_is_the_suite_one():
    g = torch.Generator().manual_seed(0)
    for n, d in ((40, 32), (9, 32)):  # more and fewer samples than features
        a = torch.randn(n, d, generator=g) * 2 + 1
        b = torch.randn(n + 3, d, generator=g) @ torch.randn(d, d, generator=g) * 0.3
        want = frechet_distance(GaussianStats.from_features(a), GaussianStats.from_features(b))
        assert jpeg_shift.frechet_from_features(a, b) == pytest.approx(want, rel=1e-6)


def test_crops_are_seeded_and_the_jpeg_copy_is_the_writers():
    photos = list(jpeg_shift.real_photos().values())
    assert len(photos) == 9 and all(p.mode == "RGB" for p in photos)
    crops = jpeg_shift.random_crops(photos, 6, 32, seed=1)
    again = jpeg_shift.random_crops(photos, 6, 32, seed=1)
    assert [c.tobytes() for c in crops] == [c.tobytes() for c in again]
    assert all(c.size == (32, 32) for c in crops)
    images = jpeg_shift.encodings(crops, 95)
    assert images["lossless"].shape == images["jpeg"].shape == (6, 3, 32, 32)
    assert torch.equal(
        images["lossless"][0], torch.from_numpy(np.asarray(crops[0])).permute(2, 0, 1)
    )
    assert not torch.equal(images["lossless"], images["jpeg"])
    shard_pixels = image_decoder(32)("x.jpg", encode(crops[0], "jpg", 95))
    assert torch.equal(images["jpeg"][0], torch.from_numpy(shard_pixels).permute(2, 0, 1))


def test_command_writes_a_table_and_json(toy_features, tmp_path, capsys):
    out = tmp_path / "shift.json"
    argv = ["--crops", "16", "--size", "32", "--feature-network", str(toy_features)]
    result = jpeg_shift.main([*argv, "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["per_half"] == 8 and result["inception_images"] == 32
    assert set(result["pairs"]) == set(jpeg_shift.PAIRS)
    assert all(row["fid"] > 0 for row in result["pairs"].values())
    assert 0 < result["jpeg_pixel_mae"] < 10 and result["jpeg_psnr_db"] > 25
    printed = capsys.readouterr().out
    assert "A lossless vs B JPEG" in printed and f"wrote {out}" in printed
    with pytest.raises(ValueError, match="need crops >= 8"):  # the library raises
        jpeg_shift.main(["--crops", "4"])
    command = functools.partial(jpeg_shift.main, errors=command_errors)
    assert "need crops >= 8" in refuses(command, ["--crops", "4"], capsys)


def test_the_command_reports_bad_input_in_one_line(tmp_path):
    out = tmp_path / "shift.json"
    module = "an_lightning.metrics.jpeg_shift"
    args = ("--crops", "4", "--out", out)
    assert "need crops >= 8" in command_refuses(module, *args, not_created=[out])
