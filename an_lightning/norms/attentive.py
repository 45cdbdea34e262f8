"""``an``: Attentive Normalization (Wang et al., CVPR 2020), docs/method.md section 1.

A 1x1 conv predicts n soft semantic entities; self-sampling regularization (SSR)
nudges them towards regions of mutually similar features; each channel is then
normalised inside each soft region, and the result is added back to the input
with a learnable weight rho (init 0, so the layer starts as the identity).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Norm
from .functional import apply_regional, orthogonality_loss, regional_affine, regional_stats

MODES = ("paper", "official_code")
LAYOUT_INITS = ("normal", "torch")


class AttentiveNorm(Norm):
    """Attentive Normalization.

    Args:
        num_features: channels C of x.
        n: number of semantic entities (layout conv filters).
        ssr: self-sampling regularization on/off (the paper's "w/o SSR" ablation).
        pool: 2x2 max-pool k(x) before sampling (paper); default off in
            ``official_code`` mode.
        tau: softmax temperature factor, S = softmax(tau * (t * F + f(x))).
        t_init: initial value of the learnable per-entity SSR weight t.
        variance: ``"paper"`` (Algorithm 1) or ``"weighted"``; see ``regional_norm``.
        statistics: ``"instance"`` (paper) or ``"batch"`` (the paper's ablation).
            Batch statistics behave like BN (docs/method.md section 5): training
            pools each (channel, region) over the batch and updates float32
            running ``running_mean`` / ``running_var`` buffers (C, n) with
            ``momentum``; eval normalises with those. Like plain BN they are not
            synchronised across DDP ranks: each rank keeps its own.
        momentum: running-average factor of batch statistics (BN's 0.1).
        eps: default 1e-5 (paper mode) or 1e-7 (``official_code``).
        affine: learnable beta/alpha (C, n); default on in paper mode, off in
            ``official_code`` mode.
        mode: ``"paper"`` or ``"official_code"`` (the released TF code: a 1x1-conv
            copy v(x) is normalised, mu divided by H*W, t clamped to [0, 1], one
            with-replacement sample shared by the batch and kept in eval mode,
            signed orthogonality loss).
        keep_layout: keep the last soft layout S in ``last_layout`` for pictures.
        layout_init: ``"normal"`` draws the layout (entity) filters from N(0, 1),
            as the released TF code does; ``"torch"`` keeps PyTorch's default
            Conv2d init, whose small weights make the initial layout almost
            uniform (docs/method.md section 3). In ``official_code`` mode k, q and
            v also follow TF's ``conv2d`` defaults: Glorot-uniform, zero bias.

    Initialisation draws from torch's global RNG in a fixed order (layout, key,
    query, value), so ``seed_everything`` fixes the weights.
    """

    def __init__(
        self,
        num_features: int,
        n: int = 16,
        ssr: bool = True,
        pool: bool | None = None,
        tau: float = 0.1,
        t_init: float = 0.1,
        variance: str = "paper",
        statistics: str = "instance",
        eps: float | None = None,
        affine: bool | None = None,
        mode: str = "paper",
        keep_layout: bool = True,
        layout_init: Literal["normal", "torch"] = "normal",
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"an mode={mode!r} is not one of {MODES}")
        if layout_init not in LAYOUT_INITS:
            raise ValueError(f"an layout_init={layout_init!r} is not one of {LAYOUT_INITS}")
        if n < 1:
            raise ValueError(f"an needs n >= 1 entities, got {n}")
        official = mode == "official_code"
        self.mode, self.n, self.ssr, self.tau = mode, n, ssr, tau
        self.pool = (not official) if pool is None else pool
        self.eps = (1e-7 if official else 1e-5) if eps is None else eps
        self.variance, self.statistics, self.keep_layout = variance, statistics, keep_layout
        self.layout_init, self.momentum = layout_init, momentum
        c, ck = num_features, max(num_features // 8, 1)
        self.layout = nn.Conv2d(c, n, 1, bias=False)
        # TF's conv2d has a bias by default; the paper's k, q have none.
        self.key = nn.Conv2d(c, ck, 1, bias=official) if ssr else None
        self.query = nn.Conv2d(c, ck, 1, bias=official) if ssr else None
        self.value = nn.Conv2d(c, c, 1) if official else None
        if layout_init == "normal":  # tf.random_normal: mean 0, stddev 1
            nn.init.normal_(self.layout.weight, 0.0, 1.0)
        if official:  # tf.layers.conv2d defaults: glorot_uniform kernel, zero bias
            for conv in (self.key, self.query, self.value):
                if conv is not None:
                    nn.init.xavier_uniform_(conv.weight)
                    nn.init.zeros_(conv.bias)
        self.t = nn.Parameter(torch.full((n,), float(t_init))) if ssr else None
        self.rho = nn.Parameter(torch.zeros(()))
        use_affine = (not official) if affine is None else affine
        self.beta = nn.Parameter(torch.ones(c, n)) if use_affine else None
        self.alpha = nn.Parameter(torch.zeros(c, n)) if use_affine else None
        self.last_layout: Tensor | None = None
        if statistics == "batch":  # only here: instance-statistics checkpoints unchanged
            self.register_buffer("running_mean", torch.zeros(c, n, dtype=torch.float32))
            self.register_buffer("running_var", torch.ones(c, n, dtype=torch.float32))
        if official:
            self.register_load_state_dict_pre_hook(_refuse_biasless_official_checkpoint)

    @property
    def official(self) -> bool:
        return self.mode == "official_code"

    def regularization_loss(self) -> Tensor:
        return self.orthogonality_loss()

    def orthogonality_loss(self) -> Tensor:
        """||W W^T - I||_F^2 of the layout conv (signed sum in ``official_code``)."""
        return orthogonality_loss(self.layout.weight, signed=self.official)

    def sample_positions(self, batch: int, positions: int) -> Tensor:
        """n sampled pixel indices per sample, (batch, n), drawn from ``generator``."""
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        if self.official:  # with replacement, one draw for the whole batch
            idx = torch.randint(positions, (1, self.n), generator=self.generator, device=device)
            return idx.expand(batch, self.n)
        weights = torch.ones(batch, positions, device=device)
        return torch.multinomial(
            weights, self.n, replacement=positions < self.n, generator=self.generator
        )

    def sampled_keys(self, k: Tensor) -> Tensor:
        """k(x) (B, C/8, H, W) at n sampled positions, (B, C/8, n)."""
        if self.pool and k.shape[2] >= 2 and k.shape[3] >= 2:
            k = F.max_pool2d(k, 2)
        k = k.flatten(2)
        idx = self.sample_positions(k.shape[0], k.shape[2]).to(k.device, non_blocking=True)
        return torch.gather(k, 2, idx.unsqueeze(1).expand(-1, k.shape[1], -1))

    def soft_layout(self, x: Tensor) -> Tensor:
        """S = softmax over entities of tau * (f(x) + t * F), in float32 at least.

        F[b, i, p] = <k(x)[b, :, pos_i], q(x)[b, :, p]>. Folding t into the sampled
        keys and tau into ``baddbmm`` builds the logits in one (B, n, HW) buffer.
        """
        b, _, h, w = x.shape
        dtype = torch.promote_types(x.dtype, torch.float32)
        if not (self.ssr and (self.training or self.official)):
            logits = self.layout(x).flatten(2).to(dtype) * self.tau
            return torch.softmax(logits, dim=1).view(b, self.n, h, w)
        # Three separate 1x1 convs: one fused conv is ~10% faster on CPU but its
        # (n + C/4)-channel gradient buffer lifts AN's peak memory by ~20%.
        f, q, keys = self.layout(x), self.query(x), self.sampled_keys(self.key(x))
        t = self.t.clamp(0.0, 1.0) if self.official else self.t
        with torch.autocast(device_type=x.device.type, enabled=False):
            keys = keys.to(dtype) * t.to(dtype)  # (B, C/8, n)
            logits = torch.baddbmm(
                f.flatten(2).to(dtype),
                keys.transpose(1, 2),
                q.flatten(2).to(dtype),
                beta=self.tau,
                alpha=self.tau,
            )
        del f  # the logits replace f(x): one (B, n, HW) buffer fewer at the softmax
        return torch.softmax(logits, dim=1).view(b, self.n, h, w)

    @torch.no_grad()
    def update_running_stats(self, mean: Tensor, var: Tensor) -> None:
        """running <- (1 - momentum) * running + momentum * batch, as BN does."""
        for buffer, value in ((self.running_mean, mean), (self.running_var, var)):
            buffer.lerp_(value.reshape(buffer.shape).to(buffer.dtype), self.momentum)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        layout = self.soft_layout(x)
        if self.keep_layout:
            self.last_layout = layout.detach()
        source = self.value(x) if self.official else x
        options = dict(statistics=self.statistics, official_mean=self.official)
        stats = None
        if self.statistics == "batch":
            if self.training:
                stats = regional_stats(source, layout, self.eps, self.variance, **options)
                self.update_running_stats(*stats)
            else:
                stats = (self.running_mean, self.running_var)
        scale, shift = regional_affine(
            source, layout, self.beta, self.alpha, self.eps, self.variance, **options, stats=stats
        )
        # x + rho * Xbar with rho folded into the (B, C, n) coefficients: no full-size
        # Xbar or rho * Xbar buffer, and exactly x while rho = 0.
        return apply_regional(source, layout, self.rho * scale, self.rho * shift, residual=x)


def _refuse_biasless_official_checkpoint(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any
) -> None:
    """Name the cause when an ``official_code`` checkpoint predates the k/q biases.

    Loading it would fail with a bare "missing key"; torch does not tell load
    hooks whether loading is strict, so this refuses it either way.
    """
    for conv in ("key", "query"):
        if f"{prefix}{conv}.weight" in state_dict and f"{prefix}{conv}.bias" not in state_dict:
            raise RuntimeError(
                f"AttentiveNorm(mode='official_code') at {prefix or '<root>'!r}: the checkpoint "
                f"has no {prefix}{conv}.bias. It was written before k and q gained the biases "
                "of the released TF code; retrain, or add zero tensors under the "
                f"{prefix}key.bias and {prefix}query.bias keys to load it as it was."
            )
