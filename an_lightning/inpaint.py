"""Fill holes: ``python -m an_lightning.inpaint CKPT --image IMG --mask MASK --out OUT.png``.

CKPT is a checkpoint of ``an_lightning.tasks.Inpainting`` written by
``python -m an_lightning.fit``, or its run directory; its EMA generator fills the hole.
MASK is an image of the same size as IMG, white (>= 128 in grey) where pixels are
missing. Images of any size work: the generator is fully convolutional but needs sides
that are multiples of 4, so the image is padded at the bottom and right by repeating its
edge pixels (no resizing), and the padding is cut off again. Known pixels of OUT are
copied from IMG bit for bit; only the hole is generated. Images far larger than the
training size are filled at full resolution, where holes look bigger to the network
than in training: downscale such images first for better results. Problems exit with
status 2 and a one-line message, before the model is loaded and with nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .cli import preflight
from .cli.errors import CommandParser, command_errors
from .data.masks import read_mask

STRIDE = 4  # models.inpaint.arch.STRIDE, repeated so --help does not import the models


class InpaintError(ValueError):
    """A problem with the image or mask, worded for the command line."""


def read_image(path: Path, what: str) -> Image.Image:
    if path.is_dir():
        raise InpaintError(f"{what} {path} is a folder; pass an image file")
    if not path.is_file():
        raise InpaintError(f"{what} {path} does not exist; check the path")
    try:
        image = Image.open(path)
        image.load()
    except Exception as err:
        raise InpaintError(
            f"cannot read {what} {path} ({type(err).__name__}); give a PNG or JPEG file"
        ) from None
    return image


def read_inputs(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (H, W, 3) RGB image, bool (H, W) mask, True = missing), checked."""
    image = np.array(read_image(image_path, "image").convert("RGB"))
    mask = read_mask(mask_path)  # the reader of the fixed evaluation masks too
    if mask.shape != image.shape[:2]:
        raise InpaintError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but image {image.shape[1]}x"
            f"{image.shape[0]}; make the mask the image's size (white = missing)"
        )
    if not mask.any():
        raise InpaintError(
            f"mask {mask_path} has no white pixels, so nothing is missing; paint the "
            "pixels to fill white (>= 128) and the rest black"
        )
    if mask.all():
        raise InpaintError(
            f"mask {mask_path} is white everywhere, so no pixel is known to fill from; "
            "paint only the missing pixels white and the known ones black"
        )
    return image, mask


def check_out(out: Path, inputs: tuple[Path, ...]) -> Path:
    """``--out``: a PNG path that is not one of the inputs and can be written."""
    if out.suffix.lower() != ".png":
        raise InpaintError(f"--out {out} must end in .png (lossless: known pixels stay)")
    if any(out.resolve() == p.resolve() for p in inputs):
        raise InpaintError(f"--out {out} is one of the inputs; write the result elsewhere")
    return preflight.output_file(out, "--out")


def load_generator(ckpt: Path, device: str) -> torch.nn.Module:
    """The EMA generator of an inpainting checkpoint (or run directory); ``RunError`` if
    the file is missing, unreadable, or of another task."""
    # Lightning loads here, once the image and mask are known to be good.
    from .tasks import Inpainting

    task, _ = preflight.load_checkpoint(ckpt, Inpainting, device=device)
    return task.g_ema.module.eval()


@torch.no_grad()
def fill(generator: torch.nn.Module, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) result: generated inside ``mask``, ``image``'s own bytes outside."""
    device = next(generator.parameters()).device
    h, w = mask.shape
    pad_h, pad_w = -h % STRIDE, -w % STRIDE
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1
    m = torch.from_numpy(mask)[None, None].float().to(device)
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    m = F.pad(m, (0, pad_w, 0, pad_h), value=0.0)  # padding counts as known
    _, final = generator(x, m)
    out = ((final[0, :, :h, :w] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    out = out.permute(1, 2, 0).cpu().numpy()
    return np.where(mask[..., None], out, image)


def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(
        prog="python -m an_lightning.inpaint",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument(
        "checkpoint", type=Path, help="an Inpainting checkpoint (.ckpt) or run directory"
    )
    parser.add_argument("--image", type=Path, required=True, help="image with a hole")
    parser.add_argument("--mask", type=Path, required=True, help="mask PNG, white = missing")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    args = parser.parse_args(argv)
    with command_errors():
        check_out(args.out, (args.image, args.mask))
        preflight.device(args.device)
        image, mask = read_inputs(args.image, args.mask)
        generator = load_generator(args.checkpoint, args.device)
        result = fill(generator, image, mask)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result).save(args.out)
    print(f"wrote {args.out} ({mask.sum()} pixels filled)")


if __name__ == "__main__":
    main()
