"""Image inpainting (the AN paper's Paris StreetView task): WGAN-GP with global and local
critics plus L1 reconstruction of both generator stages (docs/method.md section 9)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..data.masks import (
    DEFAULT_COUNT,
    PRESETS,
    MaskSpec,
    eval_mask_folder,
    load_eval_masks,
    read_eval_masks,
)
from ..loggers import log_image
from ..metrics.inpainting import InpaintingScores, complete, masks_for
from ..models.inpaint import composite
from ..viz import make_grid, save_png
from .base import AdversarialTask, Losses
from .losses import gradient_penalty, wgan_d, wgan_g
from .reconstruction import discount_weights, weighted_l1


class Inpainting(AdversarialTask):
    """Two-stage inpainting generator against global + local WGAN-GP critics.

    Each loader batch is split into ``n_dis + 1`` equal chunks: one per critic step and
    the last for the generator step, so every step sees fresh images (as the released
    code's input queue); each chunk gets fresh random masks. A Paris batch of 16 per
    step is ``batch_size: 96`` at ``n_dis: 5``.

    L_G = lambda_rec (L1(coarse) + L1(final)) + lambda_adv (-E[D_g(C^)] - E[D_l(C^)]),
    L_D = sum over both critics of E[D(C^)] - E[D(Y)] + lambda_gp GP,
    with C^ the composite (generated hole, known pixels). Defaults are the released
    code's (Adam lr 1e-5, betas (0.5, 0.9), 5 critic steps, L1 weight 1.2, adversarial
    weight 1e-3, penalty weight 10).

    Args:
        generator: ``InpaintGenerator``; discriminator: ``GlobalLocalCritic``.
        g_lr, g_betas, d_lr, d_betas, n_dis: as in ``AdversarialTask``, with the
            released code's defaults.
        lambda_rec, lambda_adv, lambda_gp: loss weights.
        discount: gamma of Yu et al.'s spatially discounted L1 (0.9 in their code);
            None is the paper's plain L1.
        masks: training masks (``rect``: Yu et al.'s 128 px box of 256, up to 32 px
            smaller; or a stroke preset).
        eval_masks: folder of the fixed evaluation mask set (``data.masks``; written on
            first use, checked before training when set; share it between runs to score
            every model on the same holes). None: ``<run dir>/eval_masks``.
        eval_mask_count, eval_mask_seed: size and seed of that set (a folder written
            with another count is refused).
        eval_presets: presets scored in validation.
        panel_rows: images in the sample panel (input with hole, coarse, final, truth).
        Other arguments: see ``AdversarialTask``.
    """

    generator_reads_data = True  # the G step completes real images

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        g_lr: float = 1e-5,
        g_betas: tuple[float, float] = (0.5, 0.9),
        d_lr: float = 1e-5,
        d_betas: tuple[float, float] = (0.5, 0.9),
        n_dis: int = 5,
        lambda_rec: float = 1.2,
        lambda_adv: float = 1e-3,
        lambda_gp: float = 10.0,
        discount: float | None = None,
        masks: MaskSpec | None = None,
        eval_masks: str | None = None,
        eval_mask_count: int = DEFAULT_COUNT,
        eval_mask_seed: int = 0,
        eval_presets: tuple[str, ...] = PRESETS,
        panel_rows: int = 4,
        **kwargs,
    ) -> None:
        recipe = dict(g_lr=g_lr, g_betas=g_betas, d_lr=d_lr, d_betas=d_betas, n_dis=n_dis)
        super().__init__(generator, discriminator, **recipe, **kwargs)
        unknown = sorted(set(eval_presets) - set(PRESETS))
        if unknown or not eval_presets:
            raise ValueError(f"eval_presets {unknown or '[]'} invalid; choose from {PRESETS}")
        if eval_mask_count < 1:
            raise ValueError(f"eval_mask_count must be 1 or more, got {eval_mask_count}")
        if discount is not None and not 0 < discount <= 1:
            raise ValueError(f"discount must lie in (0, 1], got {discount}")
        self.mask_spec = masks if masks is not None else MaskSpec()
        self.scores = nn.ModuleDict({p: InpaintingScores() for p in eval_presets})
        self.eval_mask_set: dict[str, Tensor] | None = None
        self._val_seen = 0
        self._panel: Tensor | None = None

    # -- training -----------------------------------------------------------------
    def sample_masks(self, images: Tensor) -> Tensor:
        """Fresh training masks for ``images`` from this rank's generator."""
        g = self.rng.latent if self.rng is not None else None
        if g is None:
            g = torch.Generator(device=images.device).manual_seed(self.hparams.seed)
        return self.mask_spec.sample(images.shape[0], tuple(images.shape[2:]), g).to(images)

    def critic_loss(self, real: Tensor, fake: Tensor, mask: Tensor) -> tuple[Tensor, ...]:
        """(loss, E[D(real)], E[D(fake)], penalty) summed over the global and local critic.

        Each critic gets its own gradient penalty (Yu et al.), the local one on the
        windows the critic cropped to score them (``score_with_patches``).
        """
        d, g = self.discriminator, self.rng.latent if self.rng is not None else None
        *scores, patches = d.score_with_patches(torch.cat([real, fake]), torch.cat([mask, mask]))
        inputs = [(real, fake), patches.chunk(2)]
        critics = (d.global_critic, d.local_critic)
        loss = real_score = fake_score = penalty = 0.0
        for score in scores:
            s_real, s_fake = score.chunk(2)
            loss = loss + wgan_d(s_real, s_fake)
            real_score, fake_score = real_score + s_real.mean(), fake_score + s_fake.mean()
        for critic, (x, y) in zip(critics, inputs, strict=True):
            penalty = penalty + gradient_penalty(critic, x, y, generator=g)
        return loss + self.hparams.lambda_gp * penalty, real_score, fake_score, penalty

    def reconstruction_and_adversarial(self, real: Tensor, mask: Tensor) -> tuple[Tensor, ...]:
        """(total, reconstruction, adversarial) of one generator step."""
        hp = self.hparams
        coarse, final = self.generator(real, mask)
        weights = discount_weights(mask, hp.discount)
        rec = weighted_l1(coarse, real, weights) + weighted_l1(final, real, weights)
        global_score, local_score = self.discriminator(composite(final, real, mask), mask)
        adv = wgan_g(global_score) + wgan_g(local_score)
        return hp.lambda_rec * rec + hp.lambda_adv * adv, rec, adv

    @property
    def image_size(self) -> int:
        return self.discriminator.image_size

    def check_data(self, data) -> None:
        """Also refuse a bad shared ``eval_masks`` folder now, not at the first validation."""
        super().check_data(data)
        hp = self.hparams
        if hp.eval_masks:
            read_eval_masks(hp.eval_masks, self.image_size, hp.eval_mask_count, hp.eval_presets)

    def discriminator_loss(self, batch: tuple[Tensor, Tensor]) -> Losses:
        real, mask = batch[0], self.sample_masks(batch[0])
        with torch.no_grad():
            fake = composite(self.generator(real, mask)[1], real, mask)
        loss, d_real, d_fake, penalty = self.critic_loss(real, fake, mask)
        return loss, {"d/real": d_real, "d/fake": d_fake, "d/gp": penalty}

    def generator_loss(self, batch: tuple[Tensor, Tensor]) -> Losses:
        real = batch[0]
        loss, rec, adv = self.reconstruction_and_adversarial(real, self.sample_masks(real))
        return loss, {"loss/l1": rec, "loss/adv": adv}

    # -- validation: fixed masks, scores and a sample panel -----------------------
    def mask_folder(self, run_dir: str | Path | None = None) -> Path:
        """The fixed masks' folder: ``eval_masks``, else ``<run_dir>/eval_masks`` (default:
        the trainer's root, which ``fit`` sets to the run directory)."""
        root = run_dir if run_dir is not None else self.trainer.default_root_dir
        return eval_mask_folder(self.hparams.eval_masks, root)

    def fixed_masks(self, size: int) -> dict[str, Tensor]:
        """The fixed mask set at ``size`` (``data.masks.load_eval_masks``); rank 0 writes
        the presets not on disk yet, the other ranks make the same masks from the seed."""
        hp = self.hparams
        return load_eval_masks(
            self.mask_folder(),
            size,
            hp.eval_mask_count,
            hp.eval_mask_seed,
            tuple(hp.eval_presets),
            write=self.trainer.is_global_zero,
        )

    def on_validation_epoch_start(self) -> None:
        self._val_seen, self._panel = 0, None

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        real, _ = batch
        if self.eval_mask_set is None:
            self.eval_mask_set = self.fixed_masks(real.shape[-1])
        ema = self.g_ema.module
        rows = []
        for preset, scores in self.scores.items():
            mask = masks_for(self.eval_mask_set[preset], self._val_seen, real.shape[0]).to(real)
            coarse, final = complete(ema, real, mask)
            scores.update(final, real)
            if self._panel is None:  # the first batch: one row per preset, cycling
                rows.append((real, mask, coarse, final))
        self._val_seen += real.shape[0]
        if self._panel is None:
            self._panel = panel_rows(rows, self.hparams.panel_rows)

    def on_validation_epoch_end(self) -> None:
        values = {}
        for preset, scores in self.scores.items():
            values.update({f"val/{k}_{preset}": v for k, v in scores.compute().items()})
            scores.reset()
        if self.trainer is not None and self.trainer.sanity_checking:
            return
        self.log_dict(values, logger=False)  # callback metrics (checkpoint monitors)
        self.send_to_loggers(values)
        if self._panel is not None and self.trainer.is_global_zero:
            grid = make_grid(self._panel, 4)
            # default_root_dir, not log_dir: log_dir broadcasts, and only rank 0 is here.
            root = Path(self.trainer.default_root_dir) / "samples"
            path = save_png(grid, root / f"inpaint_{self.g_iter:07d}.png")
            log_image(self.loggers, "inpainting", path, grid, self.g_iter)


def panel_rows(rows: list[tuple[Tensor, ...]], count: int) -> Tensor:
    """Panel images, 4 per row: input with the hole in white, coarse and final (both
    composited with the known pixels), truth.

    Row i shows image i with the masks of preset i mod (number of presets).
    """
    out = []
    for i in range(min(count, rows[0][0].shape[0])):
        real, mask, coarse, final = (t[i] for t in rows[i % len(rows)])
        holed = torch.where(mask > 0.5, torch.ones_like(real), real)
        out += [holed, composite(coarse, real, mask), final, real]
    return torch.stack(out)
