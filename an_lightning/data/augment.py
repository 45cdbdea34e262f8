"""DiffAugment (Zhao et al., 2020): differentiable translation and cutout of D inputs.

Every random parameter comes from an explicit ``torch.Generator`` (the task hands each
rank's ``augment`` stream over with ``norms.set_generator``), so the draws are checkpointed
with the task's other streams and a resumed run continues them bit-exactly. The
parameters are a few integers per image, drawn where the generator lives and then moved
to the images' device; the augmentation itself is plain indexing and masking.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from an_lightning.models.init_args import RecordsInitArgs


class DiffAugment(RecordsInitArgs, nn.Module):
    """DiffAugment translation and cutout, as in Zhao et al.'s reference code.

    Differentiable w.r.t. the images, so the GAN task applies it to real *and* generated
    images before D. The policies run in the order given in ``policy``:

    - ``translation``: every image moves by a whole number of pixels, independently per
      axis, uniform in [-s, s] with s = int(side * translation + 0.5); vacated pixels are 0.
    - ``cutout``: a square of side int(side * cutout + 0.5) (per axis) at a uniform random
      centre is set to 0, clipped where it crosses the border.

    ``generator`` (None by default) is where the draws come from; with None they come from
    torch's global CPU RNG, so a standalone ``forward`` follows ``torch.manual_seed``.
    Its constructor arguments are recorded (``RecordsInitArgs``), so a task built in
    Python writes them into its checkpoint like any network's.
    """

    POLICIES = frozenset({"translation", "cutout"})

    def __init__(
        self, policy: str = "translation,cutout", translation: float = 0.125, cutout: float = 0.5
    ) -> None:
        super().__init__()
        names = [p.strip() for p in policy.split(",") if p.strip()]
        unknown = set(names) - self.POLICIES
        if unknown:
            raise ValueError(
                f"unknown DiffAugment policy {sorted(unknown)}; use a comma-separated subset "
                f"of {sorted(self.POLICIES)}"
            )
        self.policy = tuple(names)
        self.translation, self.cutout = translation, cutout
        ops = {"translation": (translate, translation), "cutout": (cut, cutout)}
        self.steps = tuple(ops[name] for name in names)  # bound once, not looked up per call
        self.generator: torch.Generator | None = None

    def forward(self, images: Tensor) -> Tensor:
        for op, ratio in self.steps:
            images = op(images, ratio, self.generator)
        return images


def randint(
    low: int, high: int, n: int, generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """``n`` integers uniform in [low, high) from ``generator`` (global RNG if None),
    drawn where the generator lives and moved to ``device``."""
    where = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(low, high, (n,), generator=generator, device=where).to(device)


def translate(images: Tensor, ratio: float, generator: torch.Generator | None) -> Tensor:
    """Shift each image by whole pixels (zero fill): ``out[i, j] = in[i + dy, j + dx]``."""
    b, c, h, w = images.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = randint(-sy, sy + 1, b, generator, images.device)
    dx = randint(-sx, sx + 1, b, generator, images.device)
    padded = F.pad(images, (1, 1, 1, 1))  # one zero row/column each side: the fill
    rows = source_index(h, dy)  # (B, H) into the padded rows
    cols = source_index(w, dx)
    out = padded.gather(2, rows[:, None, :, None].expand(-1, c, -1, w + 2))
    return out.gather(3, cols[:, None, None, :].expand(-1, c, h, -1))


def cut(images: Tensor, ratio: float, generator: torch.Generator | None) -> Tensor:
    """Zero one square per image, centred uniformly, clipped at the border."""
    b, _, h, w = images.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centres as in the reference: [0, side] for an even square, [0, side) for odd.
    cy = randint(0, h + (1 - ch % 2), b, generator, images.device)
    cx = randint(0, w + (1 - cw % 2), b, generator, images.device)
    inside_y = span(h, cy - ch // 2, ch)  # (B, H)
    inside_x = span(w, cx - cw // 2, cw)  # (B, W)
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return images * keep[:, None].to(images.dtype)


def source_index(side: int, shift: Tensor) -> Tensor:
    """(B, side) index into a 1-padded axis: ``i + shift``, or a zero pad when outside."""
    i = torch.arange(side, device=shift.device)
    return (i[None] + shift[:, None] + 1).clamp(0, side + 1)


def span(side: int, start: Tensor, length: int) -> Tensor:
    """(B, side) bool: positions in [start, start + length) of each row."""
    i = torch.arange(side, device=start.device)[None]
    return (i >= start[:, None]) & (i < start[:, None] + length)
