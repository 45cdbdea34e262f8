"""Class-conditional GAN (the AN paper's ImageNet task): hinge loss, n_dis D steps per G step."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..data.augment import DiffAugment
from ..loggers import log_image
from ..norms import set_generator
from ..viz import make_grid, save_png
from .base import AdversarialTask, Losses
from .losses import hinge_d, hinge_g


class ClassConditionalGAN(AdversarialTask):
    """Hinge-loss class-conditional GAN trained with alternating D and G steps.

    Each loader batch holds ``n_dis`` chunks: one per D step; the G step then uses
    a fresh latent batch of the chunk size. Defaults are the SA-GAN recipe
    (lr_G 1e-4, lr_D 4e-4, betas (0, 0.9), n_dis 1, those of ``AdversarialTask``);
    the SN-GAN recipe is a config.

    Args:
        sample_every: write a fixed-noise EMA sample grid every this many G steps
            (0: only at the end of training).
        sample_classes: classes shown, one row each (default: the first ten).
        samples_per_class: columns of the grid.
        d_augment: differentiable augmentation of every D input, real and generated
            (e.g. ``an_lightning.data.augment.DiffAugment``). Every ``DiffAugment`` in
            it draws from this rank's checkpointed ``augment`` stream (set at fit
            start), so resumed runs stay bit-exact; other modules that draw from torch's
            global RNG would not.
        Other arguments: see ``AdversarialTask``.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        sample_every: int = 1000,
        sample_classes: list[int] | None = None,
        samples_per_class: int = 8,
        d_augment: nn.Module | None = None,
        **kwargs,
    ) -> None:
        super().__init__(generator, discriminator, **kwargs)
        self.num_classes = generator.num_classes
        if discriminator.num_classes != self.num_classes:
            raise ValueError(
                f"generator has {self.num_classes} classes, discriminator "
                f"{discriminator.num_classes}: set both num_classes to the data's class count "
                "(the fit CLI takes it from the data)"
            )
        shown = sample_classes or list(range(min(self.num_classes, 10)))
        if not all(0 <= c < self.num_classes for c in shown):
            raise ValueError(f"sample_classes {shown} must lie in [0, {self.num_classes})")
        self.sample_classes = shown
        self.d_augment = d_augment if d_augment is not None else nn.Identity()
        self.save_network_configs(d_augment=d_augment)

    @property
    def image_size(self) -> int:
        return self.generator.resolution

    def check_data(self, data) -> None:
        super().check_data(data)
        data.check_num_classes(self.num_classes)

    def on_fit_start(self) -> None:
        super().on_fit_start()  # creates (or restores) self.rng
        set_generator(self.d_augment, self.rng.augment, kind=DiffAugment)

    def critic(self, images: Tensor, labels: Tensor) -> Tensor:
        """D on (augmented) images."""
        return self.discriminator(self.d_augment(images), labels)

    def latents(self, n: int) -> tuple[Tensor, Tensor]:
        """z ~ N(0, I) and uniform labels from this rank's generator."""
        g = self.rng.latent if self.rng is not None else None
        z = torch.randn(n, self.generator.z_dim, device=self.device, generator=g)
        y = torch.randint(self.num_classes, (n,), device=self.device, generator=g)
        return z, y

    def discriminator_loss(self, batch: tuple[Tensor, Tensor]) -> Losses:
        real, labels = batch
        with torch.no_grad():
            z, y_fake = self.latents(real.shape[0])
            fake = self.generator(z, y_fake)
        d_real, d_fake = self.critic(real, labels), self.critic(fake, y_fake)
        return hinge_d(d_real, d_fake), {"d/real": d_real.mean(), "d/fake": d_fake.mean()}

    def generator_loss(self, batch: tuple[Tensor, Tensor]) -> Losses:
        z, y_fake = self.latents(batch[0].shape[0])  # the batch only sets the size
        return hinge_g(self.critic(self.generator(z, y_fake), y_fake)), {}

    def after_g_iteration(self) -> None:
        every = self.hparams.sample_every
        if every and self.g_iter % every == 0:
            self.write_samples()

    def on_train_end(self) -> None:
        self.write_samples()

    @torch.no_grad()
    def sample_grid(self) -> Tensor:
        """EMA samples at fixed noise: one row per class in ``sample_classes``."""
        g = torch.Generator().manual_seed(self.hparams.seed)
        cols = self.hparams.samples_per_class
        z = torch.randn(cols, self.generator.z_dim, generator=g).to(self.device)
        z = z.repeat(len(self.sample_classes), 1)  # the same z in every row
        y = torch.tensor(self.sample_classes, device=self.device).repeat_interleave(cols)
        ema = self.g_ema.module.eval()
        return ema(z, y)

    def write_samples(self) -> list[Path]:
        """Grid PNG of all rows plus one PNG per class, under <log_dir>/samples."""
        if self.trainer is None or not self.trainer.is_global_zero:
            return []
        images = self.sample_grid()
        # default_root_dir, not log_dir: log_dir broadcasts, and only rank 0 is here.
        root = Path(self.trainer.default_root_dir) / "samples"
        cols, step = self.hparams.samples_per_class, self.g_iter
        grid = make_grid(images, cols)
        paths = [save_png(grid, root / f"grid_{step:07d}.png")]
        for row, cls in enumerate(self.sample_classes):
            chunk = images[row * cols : (row + 1) * cols]
            paths.append(save_png(make_grid(chunk, cols), root / f"class_{cls:04d}.png"))
        log_image(self.loggers, "samples", paths[0], grid, step)
        return paths
