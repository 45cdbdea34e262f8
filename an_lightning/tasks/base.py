"""What every adversarial task shares: alternating D/G steps under manual optimization.

Subclasses (class-conditional GAN, inpainting) write ``training_step`` from the
pieces here: the generator-iteration counter (Lightning's ``global_step`` counts
every optimizer step, n_dis + 1 per iteration), the G EMA, per-rank random
generators kept in checkpoints, the norms' regularization loss, and Adam with the
SN-GAN linear decay driven by the G counter.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..norms import regularization_loss, set_generator
from .optim import linear_decay
from .rng import RankGenerators, gather_states, restore_states


class AdversarialTask(L.LightningModule):
    """Base LightningModule: a generator, a discriminator, and their bookkeeping.

    Args:
        generator, discriminator: the networks (any ``nn.Module``).
        g_lr, g_betas, d_lr, d_betas: Adam of each network (GAN recipes use beta1 = 0).
        lr_decay_start: G iteration where linear decay to 0 at ``max_g_steps`` begins
            (None: constant learning rates; SN-GAN decays from 0).
        ema_decay, ema_start: EMA of G (used for samples and evaluation), a plain
            copy of G until ``ema_start`` G iterations (BigGAN).
        lambda_orth: weight of the norms' regularizer (AN orthogonality, 2e-4 as in
            the released code; 0 switches it off).
        max_g_steps: stop after this many generator iterations.
        seed: base seed of the per-rank generators (rank r uses seed + r).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        g_lr: float,
        g_betas: tuple[float, float],
        d_lr: float,
        d_betas: tuple[float, float],
        lr_decay_start: int | None = None,
        ema_decay: float = 0.9999,
        ema_start: int = 1000,
        lambda_orth: float = 2e-4,
        max_g_steps: int = 100_000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        # Under LightningCLI the config (class_path/init_args of the nets) is saved, so
        # load_from_checkpoint rebuilds the nets; elsewhere the module objects are skipped.
        under_cli = _given_hyperparameters.get() is not None
        modules = ["generator", "discriminator", "d_augment"]
        self.save_hyperparameters(ignore=None if under_cli else modules)
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.g_ema = AveragedModel(
            generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=False
        )
        self.g_ema.requires_grad_(False)
        self.g_iter = 0  # a Python int: reading a device buffer would sync every step
        self.rng: RankGenerators | None = None
        self._pending_rng: dict[str, Tensor] | None = None

    # -- optimizers and schedules -------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        return [
            torch.optim.Adam(self.generator.parameters(), lr=hp.g_lr, betas=hp.g_betas),
            torch.optim.Adam(self.discriminator.parameters(), lr=hp.d_lr, betas=hp.d_betas),
        ]

    def apply_lr_schedule(self) -> float:
        """Set both learning rates from the G counter; returns the factor."""
        factor = linear_decay(self.g_iter, self.hparams.lr_decay_start, self.hparams.max_g_steps)
        for opt, lr in zip(self.optimizers(), (self.hparams.g_lr, self.hparams.d_lr), strict=True):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        return factor

    def regularization(self, net: nn.Module) -> Tensor | float:
        """lambda_orth times the sum of the norms' regularizers in ``net`` (0 if none)."""
        if self.hparams.lambda_orth == 0:
            return 0.0
        loss = regularization_loss(net)
        return 0.0 if loss is None else self.hparams.lambda_orth * loss

    def step(self, opt, loss: Tensor) -> None:
        """zero_grad, backward, step for one network."""
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()

    def end_g_iteration(self) -> None:
        """Count the iteration, update the EMA, stop at ``max_g_steps``."""
        self.g_iter += 1
        if self.g_iter <= self.hparams.ema_start:
            self.g_ema.n_averaged.zero_()  # the next update copies G
        self.g_ema.update_parameters(self.generator)
        if self.g_iter >= self.hparams.max_g_steps:
            self.trainer.should_stop = True

    def on_train_batch_start(self, batch, batch_idx: int) -> int | None:
        # Resuming a finished run, or max_g_steps lowered: do nothing more.
        if self.g_iter >= self.hparams.max_g_steps:
            self.trainer.should_stop = True
            return -1
        return None

    # -- randomness ---------------------------------------------------------------
    def on_fit_start(self) -> None:
        self.rng = RankGenerators(self.hparams.seed, self.global_rank, self.device)
        if self._pending_rng is not None:
            restore_states(self._pending_rng, self.global_rank, self.trainer.world_size, self.rng)
            self._pending_rng = None
        set_generator(self.generator, self.rng.sampling)
        set_generator(self.discriminator, self.rng.sampling)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["g_iter"] = self.g_iter
        if self.rng is not None:
            checkpoint["rank_generators"] = gather_states(self, self.rng)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.g_iter = int(checkpoint.get("g_iter", 0))
        self._pending_rng = checkpoint.get("rank_generators")

    # -- logging ------------------------------------------------------------------
    def log_scalars(self, metrics: dict[str, Tensor | float]) -> None:
        """Progress bar through ``self.log``; loggers keyed by the G counter.

        Values reach the host only every ``log_every_n_steps`` iterations: a float()
        of a GPU tensor per metric per step would stall the device.
        """
        self.log_dict(metrics, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        # For checkpoint names (ModelCheckpoint formats callback metrics).
        self.log("g_iter", float(self.g_iter), logger=False, on_step=True, on_epoch=False)
        every = self.trainer.log_every_n_steps if self.trainer else 1
        last = self.g_iter >= self.hparams.max_g_steps
        if self.g_iter % max(every, 1) == 0 or last:
            self.send_to_loggers(metrics)

    def send_to_loggers(self, metrics: dict[str, Tensor | float]) -> None:
        """Every logger gets ``metrics`` (and ``g_iter``) at step ``g_iter``."""
        if not self.loggers:
            return
        values = {k: float(v) for k, v in metrics.items()}
        for logger in self.loggers:
            logger.log_metrics({**values, "g_iter": self.g_iter}, step=self.g_iter)
