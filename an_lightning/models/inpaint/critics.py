"""Global and local WGAN critics of Yu et al. 2018 (used unchanged by the AN paper).

Each is a stack of 5x5 stride-2 convs with leaky ReLU (0.2), flattened into one linear
unit; no normalization (WGAN-GP penalises per-sample gradients, so nothing may mix the
samples of a batch). The flatten fixes each critic's input size at construction.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..init_args import RecordsInitArgs
from .arch import CRITIC_KERNEL, CRITIC_SLOPE, GLOBAL_CRITIC, LOCAL_CRITIC
from .patches import crop, hole_boxes, patch_size


class Critic(nn.Module):
    """Strided 5x5 convs of ``channels`` filters, then flatten -> linear -> 1 score."""

    def __init__(self, size: tuple[int, int], channels: tuple[int, ...]) -> None:
        super().__init__()
        down = 2 ** len(channels)
        if size[0] % down or size[1] % down:
            raise ValueError(
                f"a critic with {len(channels)} stride-2 convs needs input sides divisible "
                f"by {down}, got {size[0]}x{size[1]}; use an image size divisible by {2 * down}"
            )
        layers, c = [], 3
        for cout in channels:
            layers += [
                nn.Conv2d(c, cout, CRITIC_KERNEL, stride=2, padding=CRITIC_KERNEL // 2),
                nn.LeakyReLU(CRITIC_SLOPE),
            ]
            c = cout
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.size = size
        self.score = nn.Linear(c * (size[0] // down) * (size[1] // down), 1)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[2:]) != self.size:
            raise ValueError(f"critic built for {self.size} inputs got {tuple(x.shape[2:])}")
        return self.score(self.features(x)).squeeze(1)


class GlobalLocalCritic(RecordsInitArgs, nn.Module):
    """The pair of critics: ``global_critic`` on whole images, ``local_critic`` on the
    window around the hole (``patches.hole_boxes``).

    Args:
        image_size: side of the (square) training images; divisible by 32.
        width: channel multiplier (1 = Yu et al.'s 64 ... 512 filters).
    """

    def __init__(self, image_size: int = 256, width: float = 1.0) -> None:
        super().__init__()
        self.image_size = image_size

        def scaled(channels: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(1, round(c * width)) for c in channels)

        self.patch = patch_size(image_size, image_size)
        self.global_critic = Critic((image_size, image_size), scaled(GLOBAL_CRITIC))
        self.local_critic = Critic(self.patch, scaled(LOCAL_CRITIC))

    def patches(self, images: Tensor, mask: Tensor) -> Tensor:
        """The local critic's inputs: each image's window around its hole."""
        return crop(images, hole_boxes(mask), self.patch)

    def score_with_patches(self, images: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(global scores (B,), local scores (B,), the local critic's inputs (B, 3, h, w)):
        the crops come back for the local gradient penalty, so they are cut once."""
        patches = self.patches(images, mask)
        return self.global_critic(images), self.local_critic(patches), patches

    def forward(self, images: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(global scores (B,), local scores (B,))."""
        global_score, local_score, _ = self.score_with_patches(images, mask)
        return global_score, local_score
