"""Embedded inpainting data: random crops of the real photos inside the scikit-image wheel.

scikit-image ships a handful of RGB photos (astronaut, coffee, chelsea the cat, a rocket,
a stained tissue slide, the Hubble deep field, a retina) that load with no download.
Random square crops of them, resized to ``image_size``, are small real inpainting data:
``experiments/inpaint_demo.yaml`` trains on them in minutes on a CPU. Validation crops
come from held-out photos (default: the astronaut), so scores are on unseen images.
Crops are drawn once from ``seed`` at setup; the loaders are ``EmbeddedDataModule``'s.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from an_lightning.data.base import check_at_least
from an_lightning.data.embedded import EmbeddedDataModule, Split

PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
)


def load_photo(name: str) -> torch.Tensor:
    """One scikit-image RGB photo as uint8 (3, H, W)."""
    from skimage import data  # imported when the data is used, not with the package

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; scikit-image ships {', '.join(PHOTOS)}")
    return torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).contiguous()


def shrink(photo: torch.Tensor, short_side: int) -> torch.Tensor:
    """``photo`` downscaled (antialiased) so its shorter side is at most ``short_side``:
    every crop is then resized from at most that many pixels, which is most of the cost."""
    h, w = photo.shape[1:]
    factor = short_side / min(h, w)
    if factor >= 1:
        return photo
    size = (round(h * factor), round(w * factor))
    small = F.interpolate(photo[None].float(), size=size, mode="bilinear", antialias=True)
    return small[0].round().clamp(0, 255).to(torch.uint8)


def random_crops(
    photos: list[torch.Tensor],
    count: int,
    size: int,
    min_fraction: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """``count`` uint8 (3, size, size) crops: a random photo, a random square of side
    ``min_fraction`` ... 1 times the photo's shorter side, resized with antialiasing."""
    out = torch.empty(count, 3, size, size, dtype=torch.uint8)
    for i in range(count):
        photo = photos[int(torch.randint(len(photos), (1,), generator=generator))]
        h, w = photo.shape[1:]
        short = min(h, w)
        u = float(torch.rand((), generator=generator))
        side = max(size, round(short * (min_fraction + (1 - min_fraction) * u)))
        side = min(side, short)
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        patch = photo[None, :, top : top + side, left : left + side].float()
        patch = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True)
        out[i] = patch[0].round().clamp(0, 255).to(torch.uint8)
    return out


class PhotosDataModule(EmbeddedDataModule):
    """Random crops of scikit-image's photos; unlabelled (labels -1), flipped when training.

    Args:
        image_size: crop side after resizing (a multiple of 32 for the inpainting critics).
        train_crops, val_crops: how many crops each split holds.
        min_fraction: smallest crop side as a fraction of the photo's shorter side.
        val_photos: photos held out for validation; the others are for training.
        hflip: random left-right flips of training crops (coins seeded with the order,
            so a resumed run gets the same flips).
    """

    def __init__(
        self,
        image_size: int = 64,
        batch_size: int = 16,
        num_workers: int = 0,
        train_crops: int = 2048,
        val_crops: int = 64,
        min_fraction: float = 0.25,
        val_photos: tuple[str, ...] = ("astronaut",),
        hflip: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(image_size)
        unknown = sorted(set(val_photos) - set(PHOTOS))
        if unknown:
            raise ValueError(f"unknown val_photos {unknown}; choose from {', '.join(PHOTOS)}")
        if len(set(val_photos)) >= len(PHOTOS):
            raise ValueError("val_photos holds every photo: leave at least one for training")
        check_at_least(image_size=(image_size, 8), batch_size=(batch_size, 1))
        check_at_least(train_crops=(train_crops, 1), val_crops=(val_crops, 0))
        if not 0 < min_fraction <= 1:
            raise ValueError(f"min_fraction must lie in (0, 1], got {min_fraction}")
        self.save_hyperparameters()
        self.hflip = hflip

    def load_splits(self) -> tuple[Split, Split | None]:
        hp = self.hparams
        generator = torch.Generator().manual_seed(hp.seed)
        held_out = set(hp.val_photos)
        # The smallest crop then still has image_size pixels: no detail is lost.
        short = math.ceil(hp.image_size / hp.min_fraction)
        train = [shrink(load_photo(n), short) for n in PHOTOS if n not in held_out]
        val = [shrink(load_photo(n), short) for n in PHOTOS if n in held_out]
        crops = random_crops(train, hp.train_crops, hp.image_size, hp.min_fraction, generator)
        train_split = (crops, torch.full((len(crops),), -1))
        if not (val and hp.val_crops):
            return train_split, None
        crops = random_crops(val, hp.val_crops, hp.image_size, hp.min_fraction, generator)
        return train_split, (crops, torch.full((len(crops),), -1))
