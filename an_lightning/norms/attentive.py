"""``an`` and ``an_official``: Attentive Normalization (Wang et al., CVPR 2020).

A 1x1 conv predicts n soft semantic entities; self-sampling regularization (SSR)
nudges them towards regions of mutually similar features; each channel is then
normalised inside each soft region, and the result is added back to the input
with a learnable weight rho (init 0, so the layer starts as the identity).

``AttentiveNorm`` (``an``) follows the paper (docs/method.md section 1);
``OfficialAttentiveNorm`` (``an_official``) follows the authors' released TF
code where it departs from the paper (section 2). Both share
``AttentiveNormBase`` and the functional core; each difference is one small
override, so neither forward pass branches on which variant it is.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Norm
from .functional import apply_regional, orthogonality_loss, regional_affine, regional_stats

LAYOUT_INITS = ("normal", "torch")


class AttentiveNormBase(Norm):
    """What both AN variants share: layout conv f, SSR convs k and q, t, rho, the
    soft layout, regional normalisation and the kept layout.

    Code that handles "any AN layer" (layout statistics, pictures) tests
    ``isinstance(m, AttentiveNormBase)``. Subclasses set the class attributes
    and override ``make_value``, ``init_weights``, ``ssr_active``,
    ``ssr_weight``, ``source``, ``sample_positions`` and ``orthogonality_loss``.

    Initialisation draws from torch's global RNG in a fixed order (layout, key,
    query, value), so ``seed_everything`` fixes the weights.

    The options (documented on ``AttentiveNorm``) are declared once, here, with
    the defaults both variants share; ``pool``, ``eps`` and ``affine`` have none,
    so each variant must state its own. Subclasses redeclare only those and pass
    the rest on as ``**options``; ``Norm`` merges the signatures, so the registry
    checks and lists every option with the variant's defaults.
    """

    key_bias: ClassVar[bool]  # k and q have a bias (TF's conv2d default) or not (the paper)
    mean_over_pixels: ClassVar[bool]  # mu is further divided by H*W (the TF code)

    def __init__(
        self,
        num_features: int,
        *,
        n: int = 16,
        ssr: bool = True,
        pool: bool,
        tau: float = 0.1,
        t_init: float = 0.1,
        variance: str = "paper",
        statistics: str = "instance",
        eps: float,
        affine: bool,
        keep_layout: bool = True,
        layout_init: Literal["normal", "torch"] = "normal",
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        if layout_init not in LAYOUT_INITS:
            raise ValueError(f"an layout_init={layout_init!r} is not one of {LAYOUT_INITS}")
        if n < 1:
            raise ValueError(f"an needs n >= 1 entities, got {n}")
        self.n, self.ssr, self.tau, self.pool, self.eps = n, ssr, tau, pool, eps
        self.variance, self.statistics, self.keep_layout = variance, statistics, keep_layout
        self.layout_init, self.momentum = layout_init, momentum
        c, ck = num_features, max(num_features // 8, 1)
        self.layout = nn.Conv2d(c, n, 1, bias=False)
        self.key = nn.Conv2d(c, ck, 1, bias=self.key_bias) if ssr else None
        self.query = nn.Conv2d(c, ck, 1, bias=self.key_bias) if ssr else None
        self.value = self.make_value(c)
        self.init_weights()
        self.t = nn.Parameter(torch.full((n,), float(t_init))) if ssr else None
        self.rho = nn.Parameter(torch.zeros(()))
        self.beta = nn.Parameter(torch.ones(c, n)) if affine else None
        self.alpha = nn.Parameter(torch.zeros(c, n)) if affine else None
        self.last_layout: Tensor | None = None
        # Positions drawn eagerly before a compiled call (``compile_network``), and the
        # list a recording call logs this layer's draws to; both None otherwise.
        self.planned_positions: Tensor | None = None
        self.draw_log: list[tuple[AttentiveNormBase, int, int, torch.device]] | None = None
        if statistics == "batch":  # only here: instance-statistics checkpoints unchanged
            self.register_buffer("running_mean", torch.zeros(c, n, dtype=torch.float32))
            self.register_buffer("running_var", torch.ones(c, n, dtype=torch.float32))

    def make_value(self, channels: int) -> nn.Module | None:
        """The conv whose output is normalised; None normalises x itself."""
        return None

    def init_weights(self) -> None:
        """Re-draw the layout filters from N(0, 1) unless PyTorch's init is asked for."""
        if self.layout_init == "normal":  # tf.random_normal: mean 0, stddev 1
            nn.init.normal_(self.layout.weight, 0.0, 1.0)

    def ssr_active(self) -> bool:
        """Whether this call samples and adds t * F to the layout logits."""
        raise NotImplementedError

    def ssr_weight(self) -> Tensor:
        """The per-entity weight t (n,) applied to the SSR correlations."""
        raise NotImplementedError

    def source(self, x: Tensor) -> Tensor:
        """The tensor that gets normalised region by region."""
        return x

    def sample_positions(self, batch: int, positions: int) -> Tensor:
        """n sampled pixel indices per sample, (batch, n), drawn from ``generator``."""
        raise NotImplementedError

    def orthogonality_loss(self) -> Tensor:
        raise NotImplementedError

    def regularization_loss(self) -> Tensor:
        return self.orthogonality_loss()

    def sample_device(self) -> torch.device:
        """Where the draws happen: the generator's device (CPU for the global RNG)."""
        return self.generator.device if self.generator is not None else torch.device("cpu")

    def sampled_keys(self, k: Tensor) -> Tensor:
        """k(x) (B, C/8, H, W) at n sampled positions, (B, C/8, n)."""
        if self.pool and k.shape[2] >= 2 and k.shape[3] >= 2:
            k = F.max_pool2d(k, 2)
        k = k.flatten(2)
        idx = self.planned_positions
        if idx is None:
            idx = self.draw_positions(k.shape[0], k.shape[2], k.device)
        return torch.gather(k, 2, idx.unsqueeze(1).expand(-1, k.shape[1], -1))

    @torch.compiler.disable
    def draw_positions(self, batch: int, positions: int, device: torch.device) -> Tensor:
        """``sample_positions`` moved to ``device``, kept eager under ``torch.compile``:
        the draws must come from this layer's checkpointed ``generator`` in the same
        order as in eager mode, whatever the compiler would do with a random op. Called
        inside a compiled network this is a graph break (``compile_network`` avoids it)."""
        if self.draw_log is not None:
            self.draw_log.append((self, batch, positions, device))
        return self.sample_positions(batch, positions).to(device, non_blocking=True)

    def soft_layout(self, x: Tensor) -> Tensor:
        """S = softmax over entities of tau * (f(x) + t * F), in float32 at least.

        F[b, i, p] = <k(x)[b, :, pos_i], q(x)[b, :, p]>. Folding t into the sampled
        keys and tau into ``baddbmm`` builds the logits in one (B, n, HW) buffer.
        """
        b, _, h, w = x.shape
        dtype = torch.promote_types(x.dtype, torch.float32)
        if not self.ssr_active():
            logits = self.layout(x).flatten(2).to(dtype) * self.tau
            return torch.softmax(logits, dim=1).view(b, self.n, h, w)
        # Three separate 1x1 convs: one fused conv is ~10% faster on CPU but its
        # (n + C/4)-channel gradient buffer lifts AN's peak memory by ~20%.
        f, q, keys = self.layout(x), self.query(x), self.sampled_keys(self.key(x))
        t = self.ssr_weight()
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
        source = self.source(x)
        options = dict(statistics=self.statistics, official_mean=self.mean_over_pixels)
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


class AttentiveNorm(AttentiveNormBase):
    """Attentive Normalization as the paper describes it (registry name ``an``).

    Args:
        num_features: channels C of x.
        n: number of semantic entities (layout conv filters).
        ssr: self-sampling regularization on/off (the paper's "w/o SSR" ablation).
            SSR samples in training only; eval uses f(x) alone.
        pool: 2x2 max-pool k(x) before sampling (the paper).
        tau: softmax temperature factor, S = softmax(tau * (t * F + f(x))).
        t_init: initial value of the learnable per-entity SSR weight t.
        variance: ``"paper"`` (Algorithm 1) or ``"weighted"``; see ``regional_affine``.
        statistics: ``"instance"`` (paper) or ``"batch"`` (the paper's ablation).
            Batch statistics behave like BN (docs/method.md section 5): training
            pools each (channel, region) over the batch and updates float32
            running ``running_mean`` / ``running_var`` buffers (C, n) with
            ``momentum``; eval normalises with those. Like plain BN they are not
            synchronised across DDP ranks: each rank keeps its own.
        eps: added to the region mass and to sigma (PyTorch's BN/IN default).
        affine: learnable beta/alpha (C, n).
        keep_layout: keep the last soft layout S in ``last_layout`` for pictures.
        layout_init: ``"normal"`` draws the layout (entity) filters from N(0, 1),
            as the released TF code does; ``"torch"`` keeps PyTorch's default
            Conv2d init, whose small weights make the initial layout almost
            uniform (docs/method.md section 3).
        momentum: running-average factor of batch statistics (BN's 0.1).
        mode: removed; only ``"paper"`` is still accepted, so old configs that
            spelled it out keep working. The released code's variant is the
            ``an_official`` norm.
    """

    key_bias = False  # the paper's k, q have no bias terms
    mean_over_pixels = False

    def __init__(
        self,
        num_features: int,
        *,
        pool: bool = True,
        eps: float = 1e-5,
        affine: bool = True,
        mode: str = "paper",
        **options: Any,
    ) -> None:
        if mode == "official_code":
            raise ValueError(
                "norm 'an' has no mode option any more: use {name: an_official} "
                "instead of {name: an, options: {mode: official_code}}"
            )
        if mode != "paper":
            raise ValueError(f"an mode={mode!r}: the option is removed; use an or an_official")
        super().__init__(num_features, pool=pool, eps=eps, affine=affine, **options)

    def ssr_active(self) -> bool:
        return self.ssr and self.training

    def ssr_weight(self) -> Tensor:
        return self.t

    def sample_positions(self, batch: int, positions: int) -> Tensor:
        """Per sample, without replacement (with it only when there are fewer
        positions than entities)."""
        weights = torch.ones(batch, positions, device=self.sample_device())
        return torch.multinomial(
            weights, self.n, replacement=positions < self.n, generator=self.generator
        )

    def orthogonality_loss(self) -> Tensor:
        """||W W^T - I||_F^2 of the layout conv."""
        return orthogonality_loss(self.layout.weight)


class OfficialAttentiveNorm(AttentiveNormBase):
    """AN as the authors' released TF code computes it (registry name ``an_official``).

    Where it departs from ``an`` (docs/method.md section 2): a 1x1-conv copy
    v(x) is normalised instead of x, mu is further divided by H*W, t is clamped
    to [0, 1], one with-replacement sample is shared by the batch and kept in
    eval mode, keys are not pooled, the orthogonality loss is the signed sum of
    W W^T - I, eps is 1e-7, there is no affine, and k, q, v follow TF's
    ``conv2d`` defaults (Glorot-uniform kernel, zero bias). The options are
    those of ``AttentiveNorm`` (``mode`` aside); only the defaults that the
    released code changes (``pool``, ``eps``, ``affine``) are declared here.
    Checkpoints written before k and q had biases are refused with a message
    saying how to load them.
    """

    key_bias = True  # TF's conv2d has a bias by default
    mean_over_pixels = True

    def __init__(
        self,
        num_features: int,
        *,
        pool: bool = False,
        eps: float = 1e-7,
        affine: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(num_features, pool=pool, eps=eps, affine=affine, **options)
        self.register_load_state_dict_pre_hook(_refuse_biasless_official_checkpoint)

    def make_value(self, channels: int) -> nn.Module:
        return nn.Conv2d(channels, channels, 1)

    def init_weights(self) -> None:
        """Layout as in ``an``; k, q, v as tf.layers.conv2d: Glorot-uniform, zero bias."""
        super().init_weights()
        for conv in (self.key, self.query, self.value):
            if conv is not None:
                nn.init.xavier_uniform_(conv.weight)
                nn.init.zeros_(conv.bias)

    def ssr_active(self) -> bool:
        return self.ssr  # the TF layer samples in eval mode too

    def ssr_weight(self) -> Tensor:
        return self.t.clamp(0.0, 1.0)

    def source(self, x: Tensor) -> Tensor:
        return self.value(x)

    def sample_positions(self, batch: int, positions: int) -> Tensor:
        """With replacement, one draw shared by the whole batch."""
        idx = torch.randint(
            positions, (1, self.n), generator=self.generator, device=self.sample_device()
        )
        return idx.expand(batch, self.n)

    def orthogonality_loss(self) -> Tensor:
        """Sum of the entries of W W^T - I (signed, as the TF code computes it)."""
        return orthogonality_loss(self.layout.weight, signed=True)


Draw = tuple[AttentiveNormBase, int, int, torch.device]  # (layer, batch, positions, device)


class PlannedDrawsForward:
    """A network's compiled ``forward`` whose AN layers draw before the graph runs.

    A ``torch.Generator`` cannot enter a graph, and a graph break inside the network
    (AN's eager draw) makes dynamo compile every block, norm and spectral norm the
    broken frames call as frames of their own, shared by all layers of a class and
    recompiled per layer shape until torch's recompile limit sends them back to eager.
    So the draws leave the graph. The first call with a new key (input shapes and
    devices, which layers sample) runs eagerly and records the draws it makes, in
    order; later calls with that key make the same draws, from the same generators in
    the same order, then run the compiled forward, which reads them from
    ``planned_positions``: one graph per network and autograd state, none recompiled
    as training goes on. A layer that draws twice in one call cannot be planned: that
    key runs the compiled forward with its graph breaks.
    """

    def __init__(self, net: nn.Module, options: dict[str, Any]) -> None:
        self.net, self.options = net, options
        self.compiled = torch.compile(type(net).forward, **options)
        self.plans: dict[tuple, list[Draw] | None] = {}

    def __reduce__(self):  # a compiled function does not pickle: compile again
        return (PlannedDrawsForward, (self.net, self.options))

    def layers(self) -> list[AttentiveNormBase]:
        return [m for m in self.net.modules() if isinstance(m, AttentiveNormBase)]

    def key(self, args: tuple, kwargs: dict[str, Any]) -> tuple:
        values = (*args, *kwargs.items())
        shapes = tuple((v.shape, v.dtype, v.device) if torch.is_tensor(v) else v for v in values)
        return shapes, tuple(m.ssr_active() for m in self.layers())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = self.key(args, kwargs)
        if key not in self.plans:
            return self.record(key, args, kwargs)
        plan = self.plans[key]
        if plan is None:
            return self.compiled(self.net, *args, **kwargs)
        try:
            for layer, batch, positions, device in plan:
                layer.planned_positions = layer.draw_positions(batch, positions, device)
            return self.compiled(self.net, *args, **kwargs)
        finally:
            for layer, *_ in plan:
                layer.planned_positions = None

    def record(self, key: tuple, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Run eagerly, logging every AN draw; the log is ``key``'s plan."""
        log: list[Draw] = []
        layers = self.layers()
        for m in layers:
            m.draw_log = log
        try:
            out = type(self.net).forward(self.net, *args, **kwargs)
        finally:
            for m in layers:
                m.draw_log = None
        drew = [layer for layer, *_ in log]
        self.plans[key] = log if len(set(map(id, drew))) == len(drew) else None
        return out


def compile_network(net: nn.Module, **options: Any) -> None:
    """``torch.compile`` ``net`` in place, keeping its state_dict keys.

    A network without AN layers gets ``nn.Module.compile(**options)``; one with them
    a ``PlannedDrawsForward`` as its ``forward`` (hooks stay eager), so that its AN
    draws stay out of the graph.
    """
    if not any(isinstance(m, AttentiveNormBase) for m in net.modules()):
        net.compile(**options)
        return
    net.forward = PlannedDrawsForward(net, options)


def _refuse_biasless_official_checkpoint(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any
) -> None:
    """Name the cause when an ``an_official`` checkpoint predates the k/q biases.

    Loading it would fail with a bare "missing key"; torch does not tell load
    hooks whether loading is strict, so this refuses it either way.
    """
    for conv in ("key", "query"):
        if f"{prefix}{conv}.weight" in state_dict and f"{prefix}{conv}.bias" not in state_dict:
            raise RuntimeError(
                f"OfficialAttentiveNorm (an_official) at {prefix or '<root>'!r}: the checkpoint "
                f"has no {prefix}{conv}.bias. It was written before k and q gained the biases "
                "of the released TF code; retrain, or add zero tensors under the "
                f"{prefix}key.bias and {prefix}query.bias keys to load it as it was."
            )
