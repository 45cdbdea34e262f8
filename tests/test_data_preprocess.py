import io

import numpy as np
import pytest
from data_fixtures import truncate, write_image
from PIL import Image

from an_lightning.data.preprocess import center_square, encode, preprocess_file, sngan_resize


def _bands(w: int, h: int) -> Image.Image:
    """Left third red, middle green, right third blue."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 3, 0] = 255
    a[:, w // 3 : 2 * w // 3, 1] = 255
    a[:, 2 * w // 3 :, 2] = 255
    return Image.fromarray(a)


def test_center_square_keeps_the_middle_of_the_long_side():
    sq = center_square(_bands(90, 30))
    assert sq.size == (30, 30)
    assert np.array(sq)[..., 1].min() == 255  # only the green middle band survives


def test_sngan_resize_is_short_side_resize_plus_center_crop():
    out = sngan_resize(_bands(300, 100).convert("L").convert("RGB"), 32)
    assert out.size == (32, 32) and out.mode == "RGB"
    tall = sngan_resize(Image.new("RGBA", (20, 50), (10, 20, 30, 0)), 16)
    assert tall.size == (16, 16) and tall.mode == "RGB"
    # Reference: PIL short-side resize to 32, then center crop.
    img = _bands(150, 50)
    ref = img.resize((96, 32), Image.Resampling.BICUBIC).crop((32, 0, 64, 32))
    diff = np.abs(np.array(sngan_resize(img, 32), int) - np.array(ref, int))
    assert diff.mean() < 3


def test_encode_png_is_lossless_and_jpeg_quality_matters(tmp_path):
    img = Image.open(write_image(tmp_path / "a.png", (64, 64), 1, "PNG")).convert("RGB")
    assert np.array_equal(np.array(Image.open(io.BytesIO(encode(img, "png")))), np.array(img))
    assert len(encode(img, "jpg", 30)) < len(encode(img, "jpg", 95))
    with pytest.raises(ValueError, match="unknown image format"):
        encode(img, "gif")


def test_preprocess_file_reports_bad_files_instead_of_raising(tmp_path):
    good = write_image(tmp_path / "good.jpg", (80, 60), 3)
    data, err = preprocess_file(good, 24, "jpg", 90)
    assert err is None and Image.open(io.BytesIO(data)).size == (24, 24)
    bad = write_image(tmp_path / "bad.jpg", (300, 200), 4)
    truncate(bad, 400)
    data, err = preprocess_file(bad, 24)
    assert data is None and "OSError" in err
    (tmp_path / "text.jpg").write_text("not an image")
    data, err = preprocess_file(tmp_path / "text.jpg", 24)
    assert data is None and "UnidentifiedImageError" in err


def test_jpegs_of_the_target_size_are_stored_without_recompression(tmp_path):
    ready = write_image(tmp_path / "ready.jpg", (24, 24), 5)
    data, _ = preprocess_file(ready, 24, "jpg", 50)
    assert data == ready.read_bytes()
    data, _ = preprocess_file(ready, 24, "png")
    assert data[:4] == b"\x89PNG"
    grey = tmp_path / "grey.jpg"
    Image.open(ready).convert("L").save(grey)
    data, _ = preprocess_file(grey, 24, "jpg")
    assert data != grey.read_bytes() and Image.open(io.BytesIO(data)).mode == "RGB"
