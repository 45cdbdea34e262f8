"""FID of the raw generator and its EMA during training, logged as ``fid/raw`` and
``fid/ema`` (the metric the sweeps optimise). ``fid/raw`` is what the paper's table
compares (it reports no EMA); both use the same latents and labels.

With ``prdc: true`` the same generated features also give improved precision/recall
and density/coverage (``metrics.prdc``), logged as ``precision/ema``, ``recall/ema``,
``density/ema``, ``coverage/ema`` (and ``/raw``), the keys ``evaluate`` writes.

Small sample counts keep it affordable; the numbers are then biased upwards (FID at
n = 5k is not FID at 50k) but comparable between runs with the same settings. Under
DDP every rank generates its share and the feature moments are summed across ranks.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from ..data.base import ImageDataModule
from ..metrics.data_reference import data_reference
from ..metrics.features import InceptionFeatures, load_feature_network
from ..metrics.reference import ReferenceStats
from ..metrics.sampler import check_generators, task_sampler
from ..metrics.suite import PRDC_KEYS, SampleCounts, evaluate_sampler, real_feature_count
from ..tasks.interface import ClassConditionalTask


def metric_name(generator: str, metric: str = "fid") -> str:
    """The logged key of ``generator``'s FID (``fid/raw``, ``fid/ema``: the sweeps'
    metric) or of another metric (``precision/ema``)."""
    return f"{metric}/{generator}"


class TrainingFID(Callback):
    """Every ``every`` generator iterations (and at the last one), FID of G and its EMA.

    Args:
        every: generator iterations between evaluations.
        num_samples: generated images per evaluation (the same seeded latents each time).
        reference_images: real training images for the reference statistics (cached,
            see ``an_lightning.metrics.data_reference``; computed once per data set).
        feature_network: ``fid-helper`` (offline), ``torch-fidelity``, or a file.
        cache_dir: reference cache; default ``$AN_LIGHTNING_CACHE`` or ~/.cache. On
            multi-node runs point it at a shared file system.
        generators: which of ``raw`` (G) and ``ema`` to score; each costs ``num_samples``
            generated images through the feature network.
        prdc: also log precision, recall, density and coverage (k = 5) of the first
            min(num_samples, 10k) generated features against as many real ones, kept in
            the reference cache (it is recomputed once if it holds fewer).
    """

    task_interface = ClassConditionalTask  # samples (z, label) from g_ema and G

    def __init__(
        self,
        every: int = 5000,
        num_samples: int = 5000,
        reference_images: int = 50_000,
        feature_network: str = "fid-helper",
        cache_dir: str | None = None,
        batch_size: int = 50,
        seed: int = 0,
        generators: tuple[str, ...] = ("raw", "ema"),
        prdc: bool = False,
    ) -> None:
        if every < 1 or num_samples < 2 or reference_images < 2 or batch_size < 1:
            raise ValueError(
                "TrainingFID needs every >= 1, num_samples >= 2, reference_images >= 2, "
                "batch_size >= 1"
            )
        counts = SampleCounts(fid=num_samples, batch_size=batch_size)
        if prdc and min(num_samples, reference_images) <= counts.prdc_k:
            raise ValueError(
                f"TrainingFID with prdc needs num_samples and reference_images > "
                f"{counts.prdc_k} (its k): raise them or set prdc: false"
            )
        self.counts, self.prdc = counts, prdc
        self.generators = check_generators(generators)
        self.every, self.num_samples, self.reference_images = every, num_samples, reference_images
        self.feature_network, self.batch_size, self.seed = feature_network, batch_size, seed
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.features: InceptionFeatures | None = None
        self.reference: ReferenceStats | None = None
        self._done_at = -1

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if not isinstance(data, ImageDataModule):
            raise ValueError(
                "TrainingFID takes its reference images from the DataModule: train with one "
                "of an_lightning.data's DataModules"
            )
        self.features = load_feature_network(self.feature_network).to(pl_module.device)
        # Cached; under DDP each rank reads its share and the moments are summed.
        metrics = ["fid", "prdc"] if self.prdc else ["fid"]
        reals = real_feature_count(metrics, self.num_samples, self.counts)
        self.reference = data_reference(
            data, self.features, self.cache_dir, self.reference_images, kid_count=reals
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = pl_module.g_iter
        last = step >= pl_module.max_g_steps
        if step == self._done_at or not (step % self.every == 0 or last):
            return
        self._done_at = step
        values = {
            metric_name(g, metric): value
            for g in self.generators
            for metric, value in self.scores(pl_module, g).items()
        }
        for key, value in values.items():
            pl_module.log(key, value, on_step=True, on_epoch=False, logger=False, sync_dist=False)
        for logger in pl_module.loggers:
            logger.log_metrics({**values, "g_iter": step}, step=step)

    def compute(self, pl_module: L.LightningModule, generator: str = "ema") -> float:
        """FID of ``pl_module``'s ``raw`` or ``ema`` generator against the reference (all
        ranks call it); G is back in training mode afterwards."""
        return self.scores(pl_module, generator)["fid"]

    def scores(self, pl_module: L.LightningModule, generator: str = "ema") -> dict[str, float]:
        """``{"fid": ...}`` of one generator, plus precision, recall, density and
        coverage with ``prdc`` (one generation feeds them all; all ranks call it)."""
        metrics = ["fid", "prdc"] if self.prdc else ["fid"]
        with task_sampler(pl_module, generator, self.seed) as sample:
            result = evaluate_sampler(
                sample,
                pl_module.num_classes,
                self.features,
                self.reference,
                self.counts,
                metrics=metrics,
                seed=self.seed,
                device=pl_module.device,
            )
        keys = ("fid", *PRDC_KEYS) if self.prdc else ("fid",)
        return {key: float(result[key]) for key in keys}
