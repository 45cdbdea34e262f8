"""SN-GAN style image preprocessing, done once when writing shards.

SN-GAN (Miyato & Koyama, 2018) and the Attentive Normalization paper train on ImageNet
images that were resized on the short side, center-cropped to a square and resized to the
target resolution. We crop the centered square of side ``min(w, h)`` first and then resize
it once: the same geometry as short-side resize + center crop, with a single resampling
step (less blur). Everything here is a pure function so that the shard writer can run it
in a process pool and tests can call it directly.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

FORMATS = ("jpg", "png")


def center_square(image: Image.Image) -> Image.Image:
    """Crop the largest centered square (the short side decides its size)."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return image.crop((left, top, left + side, top + side))


def sngan_resize(image: Image.Image, size: int) -> Image.Image:
    """Return an RGB ``size`` x ``size`` image: center square, then one bicubic resize."""
    square = center_square(image.convert("RGB"))
    if square.size == (size, size):
        return square
    # PIL's bicubic filter widens its support when downscaling, i.e. it antialiases.
    return square.resize((size, size), Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str = "jpg", quality: int = 95) -> bytes:
    """Encode to JPEG (``quality`` 1-100) or lossless PNG bytes."""
    buf = io.BytesIO()
    if fmt == "jpg":
        image.save(buf, format="JPEG", quality=quality)
    elif fmt == "png":
        image.save(buf, format="PNG")
    else:
        raise ValueError(f"unknown image format {fmt!r}; use one of {FORMATS}")
    return buf.getvalue()


def preprocess_file(
    path: str | Path, size: int, fmt: str = "jpg", quality: int = 95
) -> tuple[bytes | None, str | None]:
    """Load, preprocess and encode one image file.

    Returns ``(data, None)`` or ``(None, error)``: unreadable or truncated files are
    reported, not raised, so one bad file never stops a million-image conversion.
    RGB JPEGs that already have the target size are stored byte for byte: a second lossy
    compression would only lose quality.
    """
    try:
        with Image.open(path) as image:
            image.load()  # forces a full decode: truncated files fail here
            ready = image.format == "JPEG" and image.mode == "RGB" and image.size == (size, size)
            if fmt == "jpg" and ready:
                return Path(path).read_bytes(), None
            return encode(sngan_resize(image, size), fmt, quality), None
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError...)
        return None, f"{type(exc).__name__}: {exc}"
