"""What every adversarial task shares: alternating D/G steps under manual optimization.

A task subclass writes its losses (``discriminator_loss``, ``generator_loss``) and what it
needs of its data; the base runs the iteration: it splits each loader batch into one
chunk per optimizer step, takes ``n_dis`` D steps and one G step with the optimizers
toggled, adds the norms' regularization loss, counts generator iterations (Lightning's
``global_step`` counts every optimizer step, n_dis + 1 per iteration), updates the G
EMA, keeps per-rank random generators in checkpoints, drives Adam's SN-GAN linear decay
from the G counter, logs, and stops a diverged run (every logged tensor is watched on
the device; the host looks on the logging cadence and before every checkpoint is
written). Optionally it compiles G and D and puts them in channels_last
(``configure_model``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..models.init_args import class_path, module_config, plain
from ..norms import regularization_loss, set_generator
from ..norms.attentive import compile_network
from .finite import FiniteGuard, NonFiniteError, nonfinite_state
from .optim import linear_decay
from .rng import RankGenerators, gather_states, restore_states

# Constructor arguments that are modules: checkpoints hold their configs, not the objects.
NETWORK_ARGS = ("generator", "discriminator", "d_augment")
# What LightningCLI records so that ``load_from_checkpoint`` parses class_path/init_args
# back into modules (a public function, on Lightning's allowlist of instantiators).
INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"
# torch.compile's modes (its documented list); anything else fails at construction.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


Losses = tuple[Tensor, dict[str, Tensor]]  # (loss to minimise, extra values to log)


class AdversarialTask(L.LightningModule, ABC):
    """Base LightningModule: a generator, a discriminator, and their training iteration.

    Subclasses list only the arguments they add, or whose defaults their recipe changes,
    and pass the rest through ``**kwargs`` (jsonargparse resolves them to these). The
    defaults here are SA-GAN's recipe.

    One generator iteration consumes one loader batch: it is split into
    ``chunks_per_batch`` equal chunks, one per D step and, for tasks whose G step reads
    real images (``generator_reads_data``), one more for the G step. So ``batch_size``
    is always the images one iteration consumes.

    Args:
        generator, discriminator: the networks (any ``nn.Module``).
        g_lr, g_betas, d_lr, d_betas: Adam of each network (GAN recipes use beta1 = 0).
        n_dis: discriminator steps per generator step.
        lr_decay_start: G iteration where linear decay to 0 at ``max_g_steps`` begins
            (None: constant learning rates; SN-GAN decays from 0).
        ema_decay, ema_start: EMA of G (used for samples and evaluation), a plain
            copy of G until ``ema_start`` G iterations (BigGAN).
        lambda_orth: weight of the norms' regularizer (AN orthogonality, 2e-4 as in
            the released code; 0 switches it off).
        max_g_steps: stop after this many generator iterations.
        seed: base seed of the per-rank generators (rank r uses seed + r).
        compile: compile G and D with ``torch.compile`` in ``configure_model``
            (``norms.attentive.compile_network``: state_dict keys and checkpoints are
            those of an eager run). Each network compiles to one graph per autograd
            state, 2 in all (G without grad in the D step and with it in the G step;
            D trainable on detached images and frozen by ``toggle_optimizer`` on G's),
            and nothing recompiles as training goes on: AN's draws are made before
            the graph runs and spectral norm's power iteration is one op inside it
            (a graph break would split the network into per-layer frames recompiled
            per shape until torch's recompile limit). An AN network's first call per
            input shape runs eagerly to record its draws. What a task calls on their
            submodules (the inpainting critics' gradient penalty) stays eager. Shapes
            are static (every optimizer step sees an equal chunk), so a different
            batch size compiles once more. The EMA G, used for samples and
            evaluation, stays eager.
        compile_mode: ``torch.compile``'s ``mode`` (None: its default; e.g.
            ``"max-autotune"`` on a GPU).
        channels_last: G, D and the EMA G in ``torch.channels_last`` memory format,
            and every 4-D tensor of a training batch with them (faster convs on
            GPUs with tensor cores). Values agree with the default layout to float
            rounding, not bit for bit.
    """

    # Whether the G step takes a chunk of real images (inpainting) or only latents (GAN).
    generator_reads_data: ClassVar[bool] = False

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        *,
        g_lr: float = 1e-4,
        g_betas: tuple[float, float] = (0.0, 0.9),
        d_lr: float = 4e-4,
        d_betas: tuple[float, float] = (0.0, 0.9),
        n_dis: int = 1,
        lr_decay_start: int | None = None,
        ema_decay: float = 0.9999,
        ema_start: int = 1000,
        lambda_orth: float = 2e-4,
        max_g_steps: int = 100_000,
        seed: int = 0,
        compile: bool = False,
        compile_mode: str | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if max_g_steps < 1:
            raise ValueError(f"max_g_steps must be >= 1 generator iterations, got {max_g_steps}")
        if n_dis < 1:
            raise ValueError(f"n_dis must be >= 1, got {n_dis}")
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ValueError(
                f"compile_mode {compile_mode!r} is not a torch.compile mode: use one of "
                f"{', '.join(COMPILE_MODES)}, or leave it unset"
            )
        self.save_config(generator=generator, discriminator=discriminator)
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.g_ema = AveragedModel(
            generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=False
        )
        self.g_ema.requires_grad_(False)
        self.g_iter = 0  # a Python int: reading a device buffer would sync every step
        self.rng: RankGenerators | None = None
        self._pending_rng: dict[str, Tensor] | None = None
        self.guard = FiniteGuard()
        # Not read from hparams: checkpoints written before these options lack them.
        self.compile_options = {"mode": compile_mode, "dynamic": False} if compile else None
        self.memory_format = torch.channels_last if channels_last else None
        self.networks_prepared = False

    # -- the config checkpoints rebuild the task from --------------------------------
    def save_config(self, **networks: nn.Module | None) -> None:
        """Record the constructor's arguments, ``networks`` as class_path/init_args.

        Under LightningCLI (subclass mode) Lightning hands over the CLI's config, which
        already names ``_class_path`` and the networks' configs: kept as is, so CLI
        checkpoints do not change. A task built in plain Python gets the same layout
        from the networks' recorded arguments (``models.init_args``), so
        ``load_from_checkpoint`` (evaluate, sample) rebuilds it either way.
        """
        self.save_hyperparameters(ignore=list(NETWORK_ARGS))
        if "_class_path" in self.hparams:
            self.hparams.clear()  # keep the CLI's order of keys
            self.save_hyperparameters()  # the CLI's config, networks included
            self.drop_unbuilt_args(**networks)
            return
        config = {k: plain(v) for k, v in self.hparams.items()}
        config.update(_class_path=class_path(self), _instantiator=INSTANTIATOR)
        self.save_hyperparameters(config)
        self.save_network_configs(**networks)

    def drop_unbuilt_args(self, **networks: nn.Module | None) -> None:
        """Keep only the init_args each recording network was built with.

        The fit CLI links the data's ``num_classes`` and ``image_size`` into every
        network's config. jsonargparse skips a link whose target network lacks the
        argument (the inpainting generator), but still counts it as applied (4.53:
        ``apply_instantiation_links`` records ``applied_value`` either way), and
        LightningCLI's instantiator writes every applied link into the task's hparams.
        The checkpoint must not name an argument the network was not built with, or its
        config would not parse back; this is where that can be undone without private
        API of either library.
        """
        for name, module in networks.items():
            config, built = self.hparams.get(name), getattr(module, "init_args", None)
            if hasattr(config, "as_dict"):  # a jsonargparse Namespace
                config = config.as_dict()
            if not isinstance(config, dict) or not isinstance(built, dict):
                continue
            given = config.get("init_args")
            if isinstance(given, dict) and set(given) - set(built):
                init_args = {k: v for k, v in given.items() if k in built}
                self.hparams[name] = {**config, "init_args": init_args}

    def save_network_configs(self, **networks: nn.Module | None) -> None:
        """Add the configs of ``networks`` (None stays None) unless the CLI gave them."""
        configs = {}
        for name, module in networks.items():
            if name in self.hparams:
                continue
            config = None if module is None else self.network_config(module)
            if module is not None and config is None:
                raise TypeError(
                    f"{name} ({class_path(module)}) does not record its constructor "
                    "arguments, so a checkpoint could not rebuild it: derive it from "
                    "an_lightning.models.init_args.RecordsInitArgs, or build the task "
                    "with LightningCLI"
                )
            configs[name] = config
        if configs:
            self.save_hyperparameters(configs)

    def network_config(self, module: nn.Module) -> dict | None:
        """``{"class_path", "init_args"}`` of ``module``, None if it cannot be had."""
        return module_config(module)

    # -- what a task writes -------------------------------------------------------
    @abstractmethod
    def discriminator_loss(self, batch: tuple[Tensor, ...]) -> Losses:
        """D's loss on one chunk of the loader batch (G is not trained here), and the
        values to log (the last D step's are logged); ``loss/d`` is logged for you."""

    @abstractmethod
    def generator_loss(self, batch: tuple[Tensor, ...]) -> Losses:
        """G's loss (D is not trained here) and values to log; ``loss/g`` is logged.
        ``batch`` is the G step's chunk of real data if ``generator_reads_data``, else
        the last D chunk, whose size sets the G step's batch."""

    @property
    @abstractmethod
    def image_size(self) -> int:
        """The side of the images the task trains on."""

    def after_g_iteration(self) -> None:
        """Called once per generator iteration, after counting and logging it."""

    # -- what the task needs of its data ------------------------------------------
    @property
    def max_g_steps(self) -> int:
        """The run's budget of generator iterations."""
        return self.hparams.max_g_steps

    @property
    def chunks_per_batch(self) -> int:
        """How many pieces one loader batch is split into (one per optimizer step)."""
        return self.hparams.n_dis + int(self.generator_reads_data)

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps per generator iteration (Lightning counts these as steps)."""
        return 1 + self.hparams.n_dis

    def check_data(self, data) -> None:
        """Raise ``ValueError`` naming the fix if ``data`` cannot feed this task.

        Called by ``fit`` before anything is written, so a mismatch is one line, not a
        traceback after the first step.
        """
        size = getattr(data, "image_size", 0)
        if size and size != self.image_size:
            raise ValueError(
                f"the data gives {size}x{size} images but the model is built for "
                f"{self.image_size}x{self.image_size}: set data image_size or the networks' "
                f"resolution to match"
            )
        batch = getattr(data, "hparams", {}).get("batch_size")
        if batch is not None and batch < self.chunks_per_batch:
            raise ValueError(
                f"data batch_size {batch} cannot be split into the {self.chunks_per_batch} "
                f"chunks one generator iteration needs (n_dis={self.hparams.n_dis}): set "
                f"batch_size to a multiple of {self.chunks_per_batch}"
            )

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

    # -- compiled path and memory format -------------------------------------------
    def configure_model(self) -> None:
        """Put G, D (and the EMA G) in channels_last and compile G and D, once.

        Lightning calls this hook before restoring a checkpoint and in every stage
        (fit, validate, ...); ``compile_network`` wraps the call, not the module, so
        parameter names, checkpoints and resuming are unchanged. ``compile_options``
        are ``torch.compile``'s keyword arguments (a test may add a ``backend``).
        """
        if self.networks_prepared:
            return
        if self.memory_format is not None:
            for net in (self.generator, self.discriminator, self.g_ema):
                net.to(memory_format=self.memory_format)
        if self.compile_options is not None:
            compile_network(self.generator, **self.compile_options)
            compile_network(self.discriminator, **self.compile_options)
        self.networks_prepared = True

    def to_memory_format(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``batch`` with its 4-D tensors (images, masks) in the networks' memory format."""
        if self.memory_format is None:
            return batch
        fmt = self.memory_format
        return tuple(t.contiguous(memory_format=fmt) if t.dim() == 4 else t for t in batch)

    # -- the iteration ------------------------------------------------------------
    def split_batch(self, batch: tuple[Tensor, ...]) -> list[tuple[Tensor, ...]]:
        """``chunks_per_batch`` equal chunks of every tensor in ``batch``."""
        n, size = self.chunks_per_batch, batch[0].shape[0]
        if size < n:
            raise ValueError(
                f"a loader batch of {size} cannot feed n_dis={self.hparams.n_dis} D steps"
                + (" and a generator step" if self.generator_reads_data else "")
                + f"; set batch_size to a multiple of {n}"
            )
        return list(zip(*(t.tensor_split(n) for t in batch), strict=True))

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        lr_factor = self.apply_lr_schedule()
        chunks = self.split_batch(self.to_memory_format(batch))

        self.toggle_optimizer(opt_d)
        for chunk in chunks[: self.hparams.n_dis]:
            loss_d, d_values = self.discriminator_loss(chunk)
            self.step(opt_d, loss_d + self.regularization(self.discriminator))
        self.untoggle_optimizer(opt_d)

        self.toggle_optimizer(opt_g)
        loss_g, g_values = self.generator_loss(chunks[-1])
        self.step(opt_g, loss_g + self.regularization(self.generator))
        self.untoggle_optimizer(opt_g)
        self.end_g_iteration()

        values = {"loss/d": loss_d, "loss/g": loss_g, **g_values, **d_values}
        self.log_scalars(
            {
                **{k: v.detach() for k, v in values.items()},
                "lr/g": self.hparams.g_lr * lr_factor,
                "lr/d": self.hparams.d_lr * lr_factor,
            }
        )
        self.after_g_iteration()

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
        if self.g_iter >= self.max_g_steps:
            self.trainer.should_stop = True

    def on_train_batch_start(self, batch, batch_idx: int) -> int | None:
        # Resuming a finished run, or max_g_steps lowered: do nothing more.
        if self.g_iter >= self.max_g_steps:
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
        # Every rank saves (only rank 0 writes): all of them agree before anything is written.
        problem = self.guard.check(self.g_iter, self.watched_nets(), weights=False)
        if problem is None and (bad := nonfinite_state(checkpoint.get("state_dict"))):
            problem = f"{bad} is NaN or infinite at generator iteration {self.g_iter}"
        if problem is None and (bad := nonfinite_state(checkpoint.get("optimizer_states"))):
            problem = f"optimizer state {bad} is NaN or infinite at iteration {self.g_iter}"
        self.stop_if_diverged(problem)
        checkpoint["g_iter"] = self.g_iter
        if self.rng is not None:
            checkpoint["rank_generators"] = gather_states(self, self.rng)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.g_iter = int(checkpoint.get("g_iter", 0))
        self._pending_rng = checkpoint.get("rank_generators")

    # -- divergence ---------------------------------------------------------------
    def watched_nets(self) -> dict[str, nn.Module]:
        """The networks whose gradients and weights the guard checks."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    def check_finite(self) -> None:
        """Raise ``NonFiniteError`` if a loss, gradient or weight went non-finite (syncs)."""
        nets = {**self.watched_nets(), "g_ema": self.g_ema.module}
        self.stop_if_diverged(self.guard.check(self.g_iter, nets))

    def stop_if_diverged(self, problem: str | None) -> None:
        """Raise on every rank if any rank found ``problem`` (DDP ranks stop together)."""
        ok = problem is None
        if self.trainer.world_size > 1:
            ok = self.trainer.strategy.reduce_boolean_decision(ok, all=True)
        if not ok:
            raise NonFiniteError(problem or "another DDP rank saw a NaN or infinite value")

    # -- logging ------------------------------------------------------------------
    def log_scalars(self, metrics: dict[str, Tensor | float]) -> None:
        """Progress bar through ``self.log``; loggers keyed by the G counter.

        Values reach the host only every ``log_every_n_steps`` iterations: a float()
        of a GPU tensor per metric per step would stall the device. The tensors are
        watched for NaN/inf on the device every step and checked on that cadence.
        """
        self.guard.watch(self.g_iter, **{k: v for k, v in metrics.items() if torch.is_tensor(v)})
        self.log_dict(metrics, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        # For checkpoint names (ModelCheckpoint formats callback metrics).
        self.log("g_iter", float(self.g_iter), logger=False, on_step=True, on_epoch=False)
        every = self.trainer.log_every_n_steps if self.trainer else 1
        last = self.g_iter >= self.max_g_steps
        if self.g_iter % max(every, 1) == 0 or last:
            self.send_to_loggers(metrics)
            self.check_finite()

    def send_to_loggers(self, metrics: dict[str, Tensor | float]) -> None:
        """Every logger gets ``metrics`` (and ``g_iter``) at step ``g_iter``."""
        if not self.loggers:
            return
        values = {k: float(v) for k, v in metrics.items()}
        for logger in self.loggers:
            logger.log_metrics({**values, "g_iter": self.g_iter}, step=self.g_iter)
