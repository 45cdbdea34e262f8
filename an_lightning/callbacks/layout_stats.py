"""How peaked AN's soft layouts are during training (to compare layout inits).

A layout whose entropy stays near log n is uniform: every region is the whole
image and AN reduces to a per-channel instance norm, so this tells whether an
initialisation gives the regions anything to work with (docs/method.md section 3).
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

from ..norms.attentive import AttentiveNormBase

__all__ = ["LayoutEntropy", "layout_statistics"]


def layout_statistics(layout: Tensor) -> tuple[Tensor, Tensor]:
    """(mean entropy / log n, mean top probability) of a soft layout (B, n, H, W).

    Both are averaged over pixels and batch; with n = 1 the entropy is 0.
    """
    s = layout.detach().float()
    n = s.shape[1]
    entropy = -torch.special.xlogy(s, s).sum(dim=1)  # 0 log 0 = 0
    normalised = entropy.mean() / math.log(n) if n > 1 else entropy.mean() * 0.0
    return normalised, s.amax(dim=1).mean()


class LayoutEntropy(Callback):
    """Log ``layout/<net>.<module>/entropy`` and ``.../top_prob`` of every AN in G and D.

    Every ``every`` training (generator) steps, for the last layout each AN layer
    kept (``keep_layout=True``; layers without one are skipped). Values go through
    ``pl_module.log``, so they reach the loggers (metrics.csv) on Lightning's
    ``log_every_n_steps`` cadence: ``every`` must be a multiple of it, and
    defaults to it.

    Args:
        every: logging period in training steps (None: the trainer's ``log_every_n_steps``).
    """

    def __init__(self, every: int | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError(f"LayoutEntropy needs every >= 1, got {every}")
        self.every = every

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        cadence = max(trainer.log_every_n_steps, 1)
        if self.every is None:
            self.every = cadence
        elif self.every % cadence:
            raise ValueError(
                f"LayoutEntropy(every={self.every}) is not a multiple of the trainer's "
                f"log_every_n_steps={cadence}: Lightning would drop its values"
            )

    @staticmethod
    def networks(pl_module: L.LightningModule) -> dict[str, nn.Module]:
        """G and D of an adversarial task (either may be absent)."""
        nets = {
            "G": getattr(pl_module, "generator", None),
            "D": getattr(pl_module, "discriminator", None),
        }
        return {k: v for k, v in nets.items() if isinstance(v, nn.Module)}

    def statistics(self, pl_module: L.LightningModule) -> dict[str, Tensor]:
        """The logged values, keyed as they are logged."""
        out: dict[str, Tensor] = {}
        for prefix, net in self.networks(pl_module).items():
            for name, module in net.named_modules():
                if isinstance(module, AttentiveNormBase) and module.last_layout is not None:
                    entropy, top = layout_statistics(module.last_layout)
                    key = f"layout/{prefix}.{name}" if name else f"layout/{prefix}"
                    out[f"{key}/entropy"], out[f"{key}/top_prob"] = entropy, top
        return out

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = int(getattr(pl_module, "g_iter", trainer.global_step))
        if self.every is None or step % self.every:
            return
        values = self.statistics(pl_module)
        if not values:
            return
        if hasattr(pl_module, "g_iter"):  # rows are keyed by the G counter in this project
            values["g_iter"] = torch.tensor(float(step))
        pl_module.log_dict(values, on_step=True, on_epoch=False, logger=True)
